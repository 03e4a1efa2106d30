"""POST /webhooks/figma, built to Figma's Webhooks V2 documents (PING and FILE_COMMENT, with their
documented examples): the real app, real PostgreSQL, real Temporal."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus

from api.app import create_app
from client.webhook_inbox import wait_for_run
from client.webhooks import link_source
from contracts.discussions import discussion_id_for, discussion_workflow_id
from core.settings import Settings
from tests.conftest import TEST_FIGMA_PASSCODE

URL = "/webhooks/figma"
JSON = {"Content-Type": "application/json"}

# Figma's documented PING example.
PING = {"event_type": "PING", "passcode": "secretpasscode", "timestamp": "2020-02-23T20:27:16Z", "webhook_id": "22"}

# Figma's documented FILE_COMMENT example (its `comment` list ends in a stray comma there, which
# is not JSON; dropped), with the protocol_version and retries that Webhooks V2 deliveries carry.
FILE_COMMENT: dict[str, Any] = {
    "comment": [
        {"text": "TODO: \n"},
        {"mention": "811724164054158337"},
        {"text": "Change selection colors"},
    ],
    "comment_id": "32",
    "created_at": "2020-02-23T20:27:16Z",
    "event_type": "FILE_COMMENT",
    "file_key": "zH44k2FUM629Fa4EMShiHL",
    "file_name": "Mockup library",
    "mentions": [{"id": "811724164054158337", "handle": "Evan Wallace"}],
    "order_id": "23 ",
    "parent_id": "",
    "passcode": "secretpasscode",
    "resolved_at": "",
    "timestamp": "2020-02-23T20:27:16Z",
    "triggered_by": {"id": "813845097374535682", "handle": "Dylan Field"},
    "webhook_id": "22",
    "protocol_version": "2",
    "retries": 0,
}
THREAD = "zH44k2FUM629Fa4EMShiHL:32"


def comment(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(FILE_COMMENT)
    payload.update(changes)
    return payload


async def runs_of(client: Client, workflow_id: str) -> list[str]:
    return [w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


@pytest.fixture
async def linked(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    """The test's team, its Figma source config linked to the documented example's webhook (22)."""
    await link_source(sessions, team_id=team, source_type="figma", external_id="22")
    return team


def test_the_test_passcode_is_the_documented_one() -> None:
    assert FILE_COMMENT["passcode"] == PING["passcode"] == TEST_FIGMA_PASSCODE


async def test_a_ping_is_answered(api: httpx.AsyncClient) -> None:
    response = await api.post(URL, json=PING)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "outcome": "answered", "reason": "PING of Figma webhook 22"}


async def test_the_documented_file_comment_starts_one_run_and_its_redelivery_and_replies_none(
    api: httpx.AsyncClient, client: Client, linked: str
) -> None:
    first = await api.post(URL, json=FILE_COMMENT)
    assert first.status_code == 200
    answer = first.json()
    workflow_id = discussion_workflow_id(linked, "figma", THREAD)
    assert (answer["outcome"], answer["workflow_id"]) == ("accepted", workflow_id)
    assert answer["discussion_id"] == str(discussion_id_for(linked, "figma", THREAD))
    run_id = await wait_for_run(client, workflow_id)  # started from the webhook inbox
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING  # the ack did not wait for the pipeline

    # Figma's redelivery of the same comment, and a reply in its thread (parent_id is the root).
    redelivered = await api.post(URL, json=comment(retries=1))
    reply = await api.post(URL, json=comment(comment_id="33", parent_id="32", order_id="", comment=[{"text": "On it"}]))
    for response in (redelivered, reply):
        assert response.status_code == 200
        assert (response.json()["outcome"], response.json()["workflow_id"]) == ("duplicate", workflow_id)
    assert await runs_of(client, workflow_id) == [run_id]


async def test_numbers_where_the_documents_type_ids_as_numbers_name_the_same_thread(
    api: httpx.AsyncClient, client: Client, linked: str
) -> None:
    """Figma's tables type comment_id and webhook_id as Number while its examples send strings."""
    first = await api.post(URL, json=comment(comment_id=32, webhook_id=22, parent_id=None))
    again = await api.post(URL, json=FILE_COMMENT)
    assert (first.json()["outcome"], again.json()["outcome"]) == ("accepted", "duplicate")
    assert first.json()["workflow_id"] == again.json()["workflow_id"]
    run_id = await wait_for_run(client, first.json()["workflow_id"])
    assert await runs_of(client, first.json()["workflow_id"]) == [run_id]


async def test_a_wrong_or_missing_passcode_is_400_and_starts_nothing(
    api: httpx.AsyncClient, client: Client, linked: str
) -> None:
    wrong = await api.post(URL, json=comment(passcode="guess"))
    missing_payload = comment()
    del missing_payload["passcode"]
    missing = await api.post(URL, json=missing_payload)
    ping = await api.post(URL, json={**PING, "passcode": "secretpasscodf"})
    for response in (wrong, missing, ping):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    assert wrong.json()["detail"] == "Figma webhook passcode does not match"
    assert missing.json()["detail"] == "Figma webhook payload has no passcode"
    assert await runs_of(client, discussion_workflow_id(linked, "figma", THREAD)) == []


async def test_without_a_passcode_set_every_figma_request_is_refused(settings: Settings) -> None:
    for unset in (None, SecretStr("")):
        app = create_app(settings.model_copy(update={"figma_webhook_passcode": unset}))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                for payload in (PING, comment(passcode="")):
                    response = await http.post(URL, json=payload)
                    assert response.status_code == 503
                    assert "FIGMA_WEBHOOK_PASSCODE is not set" in response.json()["detail"]


async def test_an_unknown_webhook_other_events_and_our_own_reply_are_200_with_nothing_started(
    api: httpx.AsyncClient, client: Client, team: str, sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    with caplog.at_level(logging.INFO, logger="api.webhooks"):
        unknown = await api.post(URL, json=FILE_COMMENT)
    assert unknown.status_code == 200
    assert unknown.json()["outcome"] == "ignored"
    assert "no figma source config is linked to Figma webhook_id 22" in unknown.json()["reason"]
    assert any("figma ignored" in r.getMessage() for r in caplog.records if r.name == "api.webhooks")

    await link_source(sessions, team_id=team, source_type="figma", external_id="22")
    # Figma's documented FILE_UPDATE example; and our own reply in the thread (its marker).
    file_update = {"event_type": "FILE_UPDATE", "file_key": "CL06nJNn5eZLQKDoARMND5",
                   "file_name": "Developer page mockup demo", "passcode": "secretpasscode",
                   "timestamp": "2020-02-23T20:27:16Z", "webhook_id": "22"}  # fmt: skip
    ours = comment(comment_id="34", parent_id="32", comment=[{"text": "Created 2 tasks [intake:abc]"}])
    for payload in (file_update, ours):
        response = await api.post(URL, json=payload)
        assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert await runs_of(client, discussion_workflow_id(team, "figma", THREAD)) == []


async def test_bad_figma_requests_are_4xx_with_a_reason_and_start_nothing(
    api: httpx.AsyncClient, client: Client, linked: str
) -> None:
    no_file = comment()
    del no_file["file_key"]
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b'{"event_type": "FILE_COMMENT", ', JSON, 400, "not valid JSON"),
        (b'"FILE_COMMENT"', JSON, 400, "not a JSON object"),
        (json.dumps(FILE_COMMENT).encode(), {"Content-Type": "text/plain"}, 415, "application/json"),
        (json.dumps(no_file).encode(), JSON, 400, "has no file_key"),
        (json.dumps(comment(comment="TODO")).encode(), JSON, 400, "not a list of fragments"),
        (json.dumps(comment(file_key="not/a key")).encode(), JSON, 400, "names no Figma comment thread"),
    ]
    for body, headers, status, detail in cases:
        response = await api.post(URL, content=body, headers=headers)
        assert response.status_code == status, body
        assert detail in response.json()["detail"], body
    assert await runs_of(client, discussion_workflow_id(linked, "figma", THREAD)) == []
