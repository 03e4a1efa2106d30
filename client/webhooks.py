"""What the webhooks do once a request is verified (used by api/routes/webhooks.py and `intake webhooks`).

Slack and Figma: decide whether an event starts a discussion (`parse_slack_event`,
`parse_figma_event`: an `app_mention` or a `FILE_COMMENT` does, everything else is
acknowledged and left alone), map it to a team through the source config that carries
its external id (a Slack workspace id, a Figma webhook id; read once per
`INTAKE_WEBHOOK_MAPPING_TTL` seconds per id, see `SourceMap`), and put the thread in the
webhook inbox (`accept_thread`: one row per thread's workflow id, so a redelivery, a double
delivery or a second API process finds the row and starts nothing); the API's starter
then starts the thread's `DiscussionWorkflow` (client/webhook_inbox.py). The ack path
writes that one row, in a transaction shared with the requests arriving with it.

Notion: keep each integration's one-time verification token, check every later event's
signature with it, and record each event once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from client.api_tokens import check_team_id
from client.webhook_inbox import InboxWriter
from contracts.discussions import DiscussionInput, discussion_id_for, discussion_workflow_id, thread_id_problem
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.webhooks import NotionIntegration
from db.repositories.webhooks import (
    MappedSource,
    NotionEventRepository,
    NotionIntegrationRepository,
    WebhookMappingRepository,
)
from db.uow import unit_of_work
from integrations.errors import WebhookVerificationError
from integrations.notion_webhooks import verify_notion_signature

Action = Literal["accepted", "ignored", "duplicate", "answered", "recorded"]

# What each source's external id is, in words for the log and the CLI.
EXTERNAL_ID_NAMES = {"slack": "Slack workspace (team_id)", "figma": "Figma webhook_id"}
# Our Figma replies end with this marker (integrations/figma.py); a comment carrying it is ours.
OUR_FIGMA_REPLY_MARKER = "[intake:"


@dataclass(frozen=True)
class Outcome:
    """What a webhook request led to, for its answer and its log line (never its body or a secret)."""

    action: Action
    reason: str
    team_id: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    discussion_id: str | None = None

    def answer(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": True, "outcome": self.action, "reason": self.reason}
        for name in ("workflow_id", "run_id", "discussion_id"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body


@dataclass(frozen=True)
class ThreadTrigger:
    """An event that starts (or finds) a thread's discussion, once mapped to a team."""

    source_type: Literal["slack", "figma"]
    external_id: str
    source_thread_id: str
    author_handle: str | None = None
    source_url: str | None = None


def _text(payload: dict[str, Any], field: str, where: str, *, required: bool = True) -> str | None:
    value = payload.get(field)
    if value is None or value == "":
        if required:
            raise InvalidInputError(f"{where} has no {field}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"{where}'s {field} is not a string")
    return str(value)


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """The body as a JSON object, or InvalidInputError saying why it is not one."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{what} body is not valid JSON: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{what} body is not a JSON object")
    return payload


# -- Slack ------------------------------------------------------------------------------------


def parse_slack_event(envelope: dict[str, Any]) -> ThreadTrigger | Outcome:
    """What an `event_callback` envelope asks of us: a thread to start, or an Outcome saying why not.

    Only an `app_mention` acts (a plain `message`, which Slack also sends for the same
    message when the app subscribes to messages, does not); a message from a bot (a
    `bot_id`, a subtype such as `bot_message`, or our own bot user as the envelope's
    authorizations name it) never starts a pipeline, so our replies cannot. A mention
    inside a thread names the thread (`thread_ts`); a top-level mention starts a thread
    rooted at itself. InvalidInputError when the envelope lacks what Slack always sends.
    """
    kind = _text(envelope, "type", "the Slack envelope")
    if kind != "event_callback":
        return Outcome("ignored", f"Slack envelope type {kind!r} is not acted on")
    team_id = _text(envelope, "team_id", "the event_callback envelope")
    event = envelope.get("event")
    if not isinstance(event, dict):
        raise InvalidInputError("the event_callback envelope has no event object")
    event_type = _text(event, "type", "the event")
    if event_type != "app_mention":
        return Outcome("ignored", f"Slack event type {event_type!r} is not acted on (only app_mention)")
    bots = {
        str(a.get("user_id"))
        for a in envelope.get("authorizations") or []
        if isinstance(a, dict) and a.get("is_bot") and a.get("user_id")
    }
    if event.get("bot_id") or event.get("subtype") or (event.get("user") and event.get("user") in bots):
        return Outcome("ignored", "the message is a bot's (bot_id, a subtype or our bot user): it starts nothing")
    channel = _text(event, "channel", "the app_mention event")
    ts = _text(event, "ts", "the app_mention event")
    thread_ts = _text(event, "thread_ts", "the app_mention event", required=False) or ts
    thread = f"{channel}:{thread_ts}"
    problem = thread_id_problem("slack", thread)
    if problem is not None:
        raise InvalidInputError(f"the app_mention event names no Slack thread: {problem}")
    assert team_id is not None
    return ThreadTrigger(
        source_type="slack",
        external_id=team_id,
        source_thread_id=thread,
        author_handle=_text(event, "user", "the app_mention event", required=False),
    )


# -- Figma ------------------------------------------------------------------------------------


def parse_figma_event(payload: dict[str, Any]) -> ThreadTrigger | Outcome:
    """What a (passcode-checked) Figma webhook asks of us: PING is answered, a FILE_COMMENT names the
    comment thread (its root: `parent_id` for a reply, else the comment itself), the rest is left alone."""
    event_type = _text(payload, "event_type", "the Figma webhook payload")
    webhook_id = _text(payload, "webhook_id", "the Figma webhook payload", required=event_type == "FILE_COMMENT")
    if event_type == "PING":
        return Outcome("answered", f"PING of Figma webhook {webhook_id}")
    if event_type != "FILE_COMMENT":
        return Outcome("ignored", f"Figma event type {event_type!r} is not acted on (only FILE_COMMENT)")
    file_key = _text(payload, "file_key", "the FILE_COMMENT payload")
    comment_id = _text(payload, "comment_id", "the FILE_COMMENT payload")
    root = _text(payload, "parent_id", "the FILE_COMMENT payload", required=False) or comment_id
    fragments = payload.get("comment")
    if not isinstance(fragments, list):
        raise InvalidInputError("the FILE_COMMENT payload's comment is not a list of fragments")
    text = "".join(str(f.get("text") or "") for f in fragments if isinstance(f, dict))
    if OUR_FIGMA_REPLY_MARKER in text:
        return Outcome("ignored", "the comment is our own reply: it starts nothing")
    thread = f"{file_key}:{root}"
    problem = thread_id_problem("figma", thread)
    if problem is not None:
        raise InvalidInputError(f"the FILE_COMMENT names no Figma comment thread: {problem}")
    triggered_by = payload.get("triggered_by")
    author = triggered_by.get("handle") if isinstance(triggered_by, dict) else None
    assert webhook_id is not None
    return ThreadTrigger(
        source_type="figma",
        external_id=webhook_id,
        source_thread_id=thread,
        author_handle=str(author) if author else None,
        source_url=f"https://www.figma.com/file/{file_key}",
    )


# -- the mapping and the start ------------------------------------------------------------------


class SourceMap:
    """Which team's source config a webhook's external id names, read from the database at most
    once per `ttl` seconds per id in this process. An id no config has is not kept: a workspace
    linked a moment ago is found at its next event (only a verified request gets this far).
    Requests that miss at once (a burst as an entry expires) share one read."""

    MAX_ENTRIES = 10_000

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, MappedSource | None]] = {}
        self._reading: dict[tuple[str, str], asyncio.Future[MappedSource | None]] = {}

    async def find(self, source_type: str, external_id: str) -> MappedSource | None:
        key = (source_type, external_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key))
            self._reading[key] = reading
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(reading)

    async def _read(self, key: tuple[str, str]) -> MappedSource | None:
        async with self._sessions() as session:
            found = await WebhookMappingRepository().find(*key, session=session)
        if self._ttl > 0 and found is not None:
            if len(self._cache) >= self.MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self._ttl, found)
        return found


async def accept_thread(inbox: InboxWriter, sources: SourceMap, trigger: ThreadTrigger) -> Outcome:
    """Map the trigger to its team and put its thread in the webhook inbox, once; never waits for
    the pipeline (the API's InboxStarter starts it, client/webhook_inbox.py)."""
    source = trigger.source_type
    mapped = await sources.find(source, trigger.external_id)
    if mapped is None:
        return Outcome(
            "ignored",
            f"no {source} source config is linked to {EXTERNAL_ID_NAMES[source]} {trigger.external_id} "
            f"(`intake webhooks link --team T --source {source} --id {trigger.external_id}`)",
        )
    team = mapped.team_id
    if not mapped.enabled:
        return Outcome("ignored", f"team {team}'s {source} source config is disabled", team_id=team)
    payload = DiscussionInput(
        team_id=team,
        source_type=source,
        source_thread_id=trigger.source_thread_id,
        author_handle=trigger.author_handle,
        source_url=trigger.source_url,
    )
    workflow_id = discussion_workflow_id(team, source, trigger.source_thread_id)
    known = {
        "team_id": team,
        "workflow_id": workflow_id,
        "discussion_id": str(discussion_id_for(team, source, trigger.source_thread_id)),
    }
    new = await inbox.accept(
        {
            "workflow_id": workflow_id,
            "team_id": team,
            "source_type": source,
            "source_thread_id": trigger.source_thread_id,
            "input": payload.model_dump(mode="json", exclude_none=True),
        }
    )
    if not new:
        return Outcome(
            "duplicate",
            f"{source} thread {trigger.source_thread_id} was accepted before: its pipeline runs once, nothing new",
            **known,
        )
    return Outcome(
        "accepted",
        f"{source} thread {trigger.source_thread_id} of team {team}: its pipeline starts in a moment",
        **known,
    )


async def link_source(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, source_type: str, external_id: str
) -> uuid.UUID:
    """Link the team's source config to a webhook's external id (`intake webhooks link`)."""
    check_team_id(team_id)
    if source_type not in EXTERNAL_ID_NAMES:
        raise InvalidInputError(f"unknown source {source_type!r} (slack or figma)")
    external_id = external_id.strip()
    if not external_id or len(external_id) > 200 or any(c.isspace() for c in external_id):
        raise InvalidInputError(f"{external_id!r} is not a {EXTERNAL_ID_NAMES[source_type]}")
    async with unit_of_work(sessions) as session:
        config_id = await WebhookMappingRepository().link(
            session=session, team_id=team_id, source_type=source_type, external_id=external_id
        )
    if config_id is None:
        raise NotFoundError(
            f"team {team_id!r} has no {source_type} source config to link; `intake db seed` adds the demo team's"
        )
    return config_id


# -- Notion -----------------------------------------------------------------------------------


def parse_integration_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "a Notion integration id", " from `intake webhooks notion add`")


async def add_notion_integration(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, name: str = ""
) -> NotionIntegration:
    """A new Notion integration of the team: its subscription URL is /webhooks/notion/<its id>."""
    check_team_id(team_id)
    async with unit_of_work(sessions) as session:
        return await NotionIntegrationRepository().create(session=session, team_id=team_id, name=name)


async def notion_integration(sessions: async_sessionmaker[AsyncSession], integration_id: str) -> NotionIntegration:
    async with sessions() as session:
        row = await NotionIntegrationRepository().find_by_id(parse_integration_id(integration_id), session=session)
    if row is None:
        raise NotFoundError(f"no Notion integration {integration_id}")
    return row


async def notion_handshake(
    sessions: async_sessionmaker[AsyncSession], integration: NotionIntegration, token: str
) -> Outcome:
    """Keep the subscription's one-time verification token; the same token again changes nothing,
    another one is refused (ConflictError) until `intake webhooks notion reset` forgets the first."""
    if not token.strip() or len(token) > 500:
        raise InvalidInputError("verification_token is empty or longer than 500 characters")
    async with unit_of_work(sessions) as session:
        stored = await NotionIntegrationRepository().store_token(integration.id, token, session=session)
    if stored is not None:
        return Outcome("recorded", "the verification token is stored", team_id=integration.team_id)
    if integration.verification_token == token:
        return Outcome("duplicate", "this verification token was already stored", team_id=integration.team_id)
    raise ConflictError(
        f"Notion integration {integration.id} already holds a verification token; "
        f"`intake webhooks notion reset {integration.id}` forgets it so a new subscription can verify"
    )


async def record_notion_event(
    sessions: async_sessionmaker[AsyncSession], integration: NotionIntegration, body: bytes, signature: str | None
) -> Outcome:
    """Check the event's signature with the integration's token, then record the event once."""
    if integration.verification_token is None:
        raise WebhookVerificationError(
            f"Notion integration {integration.id} has no verification token yet: the subscription must verify first"
        )
    verify_notion_signature(body, signature, integration.verification_token)
    payload = parse_json_object(body, "the Notion event")
    event_id = _text(payload, "id", "the Notion event")
    event_type = _text(payload, "type", "the Notion event")
    given = payload.get("entity")
    entity: dict[str, Any] = given if isinstance(given, dict) else {}
    attempt = payload.get("attempt_number")
    assert event_id is not None and event_type is not None
    async with unit_of_work(sessions) as session:
        _, new = await NotionEventRepository().record(
            session=session,
            integration_id=integration.id,
            team_id=integration.team_id,
            event_id=event_id,
            event_type=event_type,
            entity_id=str(entity["id"]) if entity.get("id") else None,
            entity_type=str(entity["type"]) if entity.get("type") else None,
            attempt_number=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
            payload=payload,
        )
    if new:
        return Outcome("recorded", f"Notion {event_type} event {event_id} recorded", team_id=integration.team_id)
    return Outcome(
        "duplicate", f"Notion {event_type} event {event_id} was already recorded", team_id=integration.team_id
    )


async def reset_notion_token(sessions: async_sessionmaker[AsyncSession], integration_id: str) -> None:
    """Forget the integration's token, so a recreated Notion subscription can verify with a new one."""
    async with unit_of_work(sessions) as session:
        found = await NotionIntegrationRepository().forget_token(parse_integration_id(integration_id), session=session)
    if not found:
        raise NotFoundError(f"no Notion integration {integration_id}")
