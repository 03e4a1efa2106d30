"""POST /webhooks/slack/events, built to Slack's Events API documents: the real app, real PostgreSQL,
real Temporal. Payloads are Slack's documented examples (url_verification, the app_mention
event_callback envelope, the signing example), adapted only where a test needs a thread."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from slack_sdk.signature import Clock
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus

from api.app import create_app
from client.webhook_inbox import wait_for_run
from client.webhooks import SourceMap, link_source
from contracts.discussions import DiscussionResult, discussion_id_for, discussion_workflow_id
from core.settings import Settings
from db.models.discussions import SourceConfig
from db.models.webhooks import WebhookInboxEntry
from integrations.slack import SlackRequestVerifier
from sandbox.control import SandboxControl
from tests.conftest import TEST_SLACK_SIGNING_SECRET

SECRET = TEST_SLACK_SIGNING_SECRET  # Slack's published example signing secret
URL = "/webhooks/slack/events"

# Slack's "Verifying requests from Slack" walk-through: a slash command's body, its timestamp and signature.
PUBLISHED_TIMESTAMP = 1531420618
PUBLISHED_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
PUBLISHED_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# The Events API's url_verification example.
URL_VERIFICATION = {
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification",
}

# The app_mention event's documented example, in its event_callback envelope, with the
# envelope's `authorizations` (the installation the event is for: our bot user).
WORKSPACE = "T123ABC456"
OUR_BOT_USER = "U0LAN0Z89"
APP_MENTION: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": WORKSPACE,
    "api_app_id": "A123ABC456",
    "event": {
        "type": "app_mention",
        "user": "U123ABC456",
        "text": "What is the hour of the pearl, <@U0LAN0Z89>?",
        "ts": "1515449522.000016",
        "channel": "C123ABC456",
        "event_ts": "1515449522.000016",
    },
    "type": "event_callback",
    "event_id": "Ev123ABC456",
    "event_time": 1515449522000016,
    "authorizations": [
        {
            "enterprise_id": None,
            "team_id": WORKSPACE,
            "user_id": OUR_BOT_USER,
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ],
    "authed_users": [OUR_BOT_USER],
}
THREAD_TS = "1515449500.000100"  # the thread the mention is posted in


class FixedClock(Clock):
    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> float:
        return float(self._now)


def sign(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them, signed as Slack documents (not through the SDK)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


def mention(*, thread_ts: str | None = THREAD_TS, event_id: str = "Ev123ABC456", **event: Any) -> dict[str, Any]:
    envelope = copy.deepcopy(APP_MENTION)
    envelope["event_id"] = event_id
    if thread_ts:
        envelope["event"]["thread_ts"] = thread_ts
    envelope["event"].update(event)
    return envelope


async def deliver(http: httpx.AsyncClient, envelope: dict[str, Any], **headers: str) -> httpx.Response:
    body = json.dumps(envelope).encode()
    return await http.post(URL, content=body, headers={**sign(body), **headers})


async def runs_of(client: Client, workflow_id: str) -> list[str]:
    """Every run Temporal has for the workflow id (visibility)."""
    return [w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def inbox_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str | None]]:
    """The webhook inbox: (workflow id, state, run id) per row."""
    async with sessions() as session:
        rows = await session.execute(
            select(WebhookInboxEntry.workflow_id, WebhookInboxEntry.state, WebhookInboxEntry.run_id)
        )
    return [(workflow_id, state, run_id) for workflow_id, state, run_id in rows]


@pytest.fixture
async def linked(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    """The test's team, its Slack source config linked to the documented example's workspace."""
    await link_source(sessions, team_id=team, source_type="slack", external_id=WORKSPACE)
    return team


@pytest.fixture
async def second_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process (its own app, caches and clients) on the same stack."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://second") as http:
            yield http


def test_slacks_published_signing_example_verifies() -> None:
    headers = {"X-Slack-Request-Timestamp": str(PUBLISHED_TIMESTAMP), "X-Slack-Signature": PUBLISHED_SIGNATURE}
    SlackRequestVerifier(SECRET, clock=FixedClock(PUBLISHED_TIMESTAMP)).verify(PUBLISHED_BODY, headers)
    assert sign(PUBLISHED_BODY, PUBLISHED_TIMESTAMP)["X-Slack-Signature"] == PUBLISHED_SIGNATURE
    assert SlackRequestVerifier(SECRET).sign(PUBLISHED_BODY, PUBLISHED_TIMESTAMP) == headers


async def test_url_verification_answers_the_challenge(api: httpx.AsyncClient) -> None:
    response = await deliver(api, URL_VERIFICATION)
    assert response.status_code == 200
    assert response.json() == {"challenge": URL_VERIFICATION["challenge"]}


@contextlib.asynccontextmanager
async def api_at(settings: Settings, now: int) -> AsyncIterator[httpx.AsyncClient]:
    """The real app whose Slack verifier reads a fixed clock (`now`), so window edges are exact."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.webhooks = dataclasses.replace(
            app.state.webhooks,
            slack=SlackRequestVerifier(SECRET, clock=FixedClock(now)),
            sources=SourceMap(app.state.services.sessions, ttl=0),
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            yield http


async def test_a_request_signed_299_s_ago_is_accepted_and_one_301_s_ago_refused(settings: Settings) -> None:
    body = json.dumps(URL_VERIFICATION).encode()
    now = 1_718_000_000
    async with api_at(settings, now) as http:
        for age, status in ((299, 200), (300, 200), (301, 401), (-299, 200), (-301, 401)):
            response = await http.post(URL, content=body, headers=sign(body, now - age))
            assert response.status_code == status, age
        stale = await http.post(URL, content=body, headers=sign(body, now - 301))
    assert "refused as a replay" in stale.json()["detail"]


async def test_slacks_published_example_passes_the_routes_signature_check(settings: Settings) -> None:
    """At its own timestamp the published request is genuine; being a slash command's form body, not
    an Events API request, it is then refused as the wrong content type (415), not as forged (401)."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(PUBLISHED_TIMESTAMP),
        "X-Slack-Signature": PUBLISHED_SIGNATURE,
    }
    async with api_at(settings, PUBLISHED_TIMESTAMP) as http:
        genuine = await http.post(URL, content=PUBLISHED_BODY, headers=headers)
        forged = await http.post(URL, content=PUBLISHED_BODY + b"&x=1", headers=headers)
    async with api_at(settings, PUBLISHED_TIMESTAMP + 301) as http:
        late = await http.post(URL, content=PUBLISHED_BODY, headers=headers)
    assert genuine.status_code == 415
    assert (forged.status_code, late.status_code) == (401, 401)


async def test_forged_tampered_or_unsigned_requests_are_401_and_start_nothing(
    api: httpx.AsyncClient, client: Client, sessions: async_sessionmaker[AsyncSession], linked: str
) -> None:
    body = json.dumps(mention()).encode()
    forged = await api.post(URL, content=body, headers=sign(body, secret="not-the-secret"))
    tampered = await api.post(URL, content=body.replace(b"pearl", b"PEARL"), headers=sign(body))
    unsigned = await api.post(URL, content=body, headers={"Content-Type": "application/json"})
    for response in (forged, tampered, unsigned):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert "does not match" in forged.json()["detail"]
    assert "lacks" in unsigned.json()["detail"]
    workflow_id = discussion_workflow_id(linked, "slack", f"C123ABC456:{THREAD_TS}")
    assert await inbox_rows(sessions) == []
    assert await runs_of(client, workflow_id) == []


async def test_without_a_signing_secret_every_request_is_refused(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail closed: the system the seed comes from skipped the check when no secret was set."""
    app = create_app(settings.model_copy(update={"slack_signing_secret": None}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            body = json.dumps(URL_VERIFICATION).encode()
            with caplog.at_level(logging.INFO, logger="api.webhooks"):
                signed = await http.post(URL, content=body, headers=sign(body))
                # Not even a request signed with the value the settings once defaulted to.
                old_default = await http.post(URL, content=body, headers=sign(body, secret="sandbox-signing-secret"))
    for response in (signed, old_default):
        assert response.status_code == 503
        assert response.json()["detail"] == (
            "SLACK_SIGNING_SECRET is not set: every Slack request is refused until it is"
        )
    assert any("SLACK_SIGNING_SECRET is not set" in r.getMessage() for r in caplog.records)
    blank = settings.model_copy(update={"slack_signing_secret": SecretStr("")})
    app = create_app(blank)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.post(URL, content=body, headers=sign(body, secret=""))).status_code == 503


async def test_an_app_mention_in_a_thread_starts_one_run_that_redeliveries_and_a_double_delivery_only_find(
    api: httpx.AsyncClient,
    second_api: httpx.AsyncClient,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    linked: str,
) -> None:
    thread = f"C123ABC456:{THREAD_TS}"
    first = await deliver(api, mention())
    assert first.status_code == 200
    answer = first.json()
    workflow_id = discussion_workflow_id(linked, "slack", thread)
    assert answer["outcome"] == "accepted"
    assert answer["workflow_id"] == workflow_id
    assert answer["discussion_id"] == str(discussion_id_for(linked, "slack", thread))
    # The ack kept the event in the inbox and did not wait; the API's starter starts the run, which
    # stays open: no worker polls this test's queue.
    run_id = await wait_for_run(client, workflow_id)
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING

    # Slack's redeliveries (same event_id, X-Slack-Retry-Num), some to another API process.
    for number, http in ((1, api), (2, second_api), (3, second_api)):
        again = await deliver(
            http, mention(), **{"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": "http_timeout"}
        )
        assert again.status_code == 200
        assert (again.json()["outcome"], again.json()["workflow_id"]) == ("duplicate", workflow_id)
    # Slack's double delivery: the same message as a `message` event (another event_id) ...
    as_message = mention(event_id="Ev123ABC457", type="message", channel_type="channel")
    plain = await deliver(second_api, as_message)
    assert plain.status_code == 200 and plain.json()["outcome"] == "ignored"
    # ... and a second mention later in the same thread finds the same thread.
    later = await deliver(api, mention(event_id="Ev123ABC458", ts="1515449600.000200"))
    assert (later.json()["outcome"], later.json()["workflow_id"]) == ("duplicate", workflow_id)

    assert await inbox_rows(sessions) == [(workflow_id, "started", run_id)]
    assert await runs_of(client, workflow_id) == [run_id]


async def test_a_burst_of_deliveries_to_two_api_processes_starts_each_thread_once(
    api: httpx.AsyncClient,
    second_api: httpx.AsyncClient,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    linked: str,
) -> None:
    """Twenty threads, each delivered three times at once, spread over two API processes (two
    inboxes' writers and two starters on one table): one row and one run per thread."""
    threads = [f"1515449{i:03d}.000100" for i in range(20)]
    deliveries = [
        deliver(http, mention(thread_ts=ts, event_id=f"Ev0BURST{i:02d}"), **retry)
        for i, ts in enumerate(threads)
        for http, retry in ((api, {}), (second_api, {"X-Slack-Retry-Num": "1"}), (api, {"X-Slack-Retry-Num": "2"}))
    ]
    answers = [r.json() for r in await asyncio.gather(*deliveries)]
    assert sorted(a["outcome"] for a in answers) == ["accepted"] * 20 + ["duplicate"] * 40
    workflow_ids = {discussion_workflow_id(linked, "slack", f"C123ABC456:{ts}") for ts in threads}
    assert {a["workflow_id"] for a in answers} == workflow_ids
    runs = {workflow_id: await wait_for_run(client, workflow_id) for workflow_id in workflow_ids}
    for workflow_id, run_id in runs.items():
        assert await runs_of(client, workflow_id) == [run_id]
    assert sorted(await inbox_rows(sessions)) == sorted((w, "started", r) for w, r in runs.items())


async def test_a_mention_of_a_thread_whose_pipeline_completed_starts_nothing_new(
    api: httpx.AsyncClient,
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    """The sandbox's Slack workspace and thread, so the run really completes, with a worker."""
    await link_source(sessions, team_id=team, source_type="slack", external_id="T0SANDBOX")
    envelope = mention(thread_ts="1718010000.000100", channel="C0PRODUCT", ts="1718010500.000100")
    envelope["team_id"] = "T0SANDBOX"
    async with make_worker():
        started = await deliver(api, envelope)
        assert started.json()["outcome"] == "accepted"
        await wait_for_run(client, started.json()["workflow_id"])
        handle = client.get_workflow_handle(started.json()["workflow_id"], result_type=DiscussionResult)
        result = await handle.result()
    assert result.discussion_id == started.json()["discussion_id"]
    assert len(await sandbox.created("slack", "messages")) == 1  # the pipeline's one reply

    again = await deliver(api, envelope, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert len(await runs_of(client, started.json()["workflow_id"])) == 1


async def test_our_own_reply_and_other_bots_messages_start_nothing(
    api: httpx.AsyncClient, client: Client, sessions: async_sessionmaker[AsyncSession], linked: str
) -> None:
    # Our reply in the thread, as the Events API delivers a bot's message (the sandbox posts ours so).
    our_reply = mention(
        event_id="Ev0REPLY1",
        type="message",
        subtype="bot_message",
        bot_id="B0INTAKE",
        user=OUR_BOT_USER,
        text="Created 2 tasks: <@U123ABC456>",
    )
    # Our bot user mentioning itself (an app_mention from our own user id), and another bot's mention.
    ourselves = mention(event_id="Ev0REPLY2", user=OUR_BOT_USER)
    other_bot = mention(event_id="Ev0REPLY3", bot_id="B0OTHER", bot_profile={"app_id": "A0OTHER"})
    for envelope in (our_reply, ourselves, other_bot):
        response = await deliver(api, envelope)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored"
    workflow_id = discussion_workflow_id(linked, "slack", f"C123ABC456:{THREAD_TS}")
    assert await inbox_rows(sessions) == []
    assert await runs_of(client, workflow_id) == []


async def test_an_unknown_workspace_or_a_disabled_config_is_200_with_nothing_started_and_logged(
    api: httpx.AsyncClient,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="api.webhooks"):
        unknown = await deliver(api, mention())
    assert unknown.status_code == 200
    assert unknown.json()["outcome"] == "ignored"
    assert f"no slack source config is linked to Slack workspace (team_id) {WORKSPACE}" in unknown.json()["reason"]
    lines = [r.getMessage() for r in caplog.records if r.name == "api.webhooks"]
    assert (
        len(lines) == 1 and "slack ignored: no slack source config" in lines[0] and "event_id=Ev123ABC456" in lines[0]
    )
    assert "pearl" not in lines[0]  # never the body
    # Linked a moment later: the workspace's next event finds the team (an unknown id is not cached).
    await link_source(sessions, team_id=team, source_type="slack", external_id=WORKSPACE)
    now_linked = await deliver(api, mention(event_id="Ev123ABC459"))
    assert now_linked.json()["outcome"] == "accepted"
    linked_run = await wait_for_run(client, now_linked.json()["workflow_id"])
    async with sessions() as session, session.begin():
        await session.execute(update(SourceConfig).where(SourceConfig.team_id == team).values(external_id=None))

    await link_source(sessions, team_id=team, source_type="slack", external_id="T0DISABLED")
    async with sessions() as session, session.begin():
        await session.execute(update(SourceConfig).where(SourceConfig.team_id == team).values(enabled=False))
    disabled_envelope = mention()
    disabled_envelope["team_id"] = "T0DISABLED"
    disabled = await deliver(api, disabled_envelope)
    assert disabled.status_code == 200
    assert disabled.json()["reason"] == f"team {team}'s slack source config is disabled"
    # Only the linked event's run: neither the unknown workspace's event nor the disabled one started any.
    workflow_id = discussion_workflow_id(team, "slack", f"C123ABC456:{THREAD_TS}")
    assert await runs_of(client, workflow_id) == [linked_run]
    assert [row[0] for row in await inbox_rows(sessions)] == [workflow_id]


async def test_events_we_do_not_act_on_are_acknowledged(api: httpx.AsyncClient, linked: str) -> None:
    rate_limited = {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "app_rate_limited", "team_id": WORKSPACE,
                    "minute_rate_limited": 1518467820, "api_app_id": "A123ABC456"}  # fmt: skip
    reaction = mention(event_id="Ev0REACT", type="reaction_added", reaction="thumbsup")
    for envelope in (rate_limited, reaction):
        response = await deliver(api, envelope)
        assert response.status_code == 200 and response.json()["outcome"] == "ignored"


async def test_bad_requests_are_4xx_with_a_reason_and_start_nothing(
    api: httpx.AsyncClient, client: Client, linked: str, settings: Settings
) -> None:
    def signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
        return {**sign(body), "Content-Type": content_type}

    not_json = b'{"type": "event_callback", "team_id": '
    cases = {
        "malformed JSON": (not_json, signed(not_json), 400, "not valid JSON"),
        "a JSON array": (b"[]", signed(b"[]"), 400, "not a JSON object"),
        "no event": (
            json.dumps({"type": "event_callback", "team_id": WORKSPACE}).encode(),
            None,
            400,
            "has no event object",
        ),
        "no channel": (json.dumps(mention(channel=None)).encode(), None, 400, "has no channel"),
        "not a thread id": (json.dumps(mention(channel="not a channel")).encode(), None, 400, "names no Slack thread"),
        "a form body": (
            PUBLISHED_BODY,
            signed(PUBLISHED_BODY, "application/x-www-form-urlencoded"),
            415,
            "application/json",
        ),
    }
    for name, (body, headers, status, detail) in cases.items():
        response = await api.post(URL, content=body, headers=headers or signed(body))
        assert response.status_code == status, name
        assert detail in response.json()["detail"], name
    too_big = json.dumps(mention(text="x" * settings.api_max_body_bytes)).encode()
    assert (await api.post(URL, content=too_big, headers=signed(too_big))).status_code == 413
    assert await runs_of(client, discussion_workflow_id(linked, "slack", f"C123ABC456:{THREAD_TS}")) == []


async def test_the_mapping_is_read_once_for_requests_that_miss_together_and_again_after_its_ttl(
    sessions: async_sessionmaker[AsyncSession], linked: str
) -> None:
    reads = 0

    def counting() -> AsyncSession:
        nonlocal reads
        reads += 1
        return sessions()

    mapping = SourceMap(counting, ttl=0.3)  # type: ignore[arg-type]
    found = await asyncio.gather(*(mapping.find("slack", WORKSPACE) for _ in range(20)))
    assert {f.team_id for f in found if f is not None} == {linked} and len(found) == 20
    assert reads == 1  # twenty requests missed at once: one read
    assert (await mapping.find("slack", WORKSPACE)) == found[0] and reads == 1  # cached
    await asyncio.sleep(0.35)
    await asyncio.gather(*(mapping.find("slack", WORKSPACE) for _ in range(5)))
    assert reads == 2  # expired: read again, once
    assert await asyncio.gather(*(mapping.find("slack", "T0UNKNOWN") for _ in range(3))) == [None] * 3
    assert reads == 3  # an unknown id is read (once for the three) and not kept
    assert await mapping.find("slack", "T0UNKNOWN") is None and reads == 4
