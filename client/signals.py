"""Signal ingestion and approvals from the outside (used by `intake ingest|approve|reject|...` and the API)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from client.api_tokens import check_team_id
from contracts.approvals import (
    ApproveActionInput,
    DecideActionResult,
    GiveFeedbackInput,
    ProposedActionInput,
    QueueToolCallInput,
    QueueToolCallResult,
    RecordFeedbackResult,
    RejectActionInput,
    payload_model,
    proposed_action_workflow_id,
    tool_call_workflow_id,
)
from contracts.signals import IngestSignalsInput, IngestSignalsResult, ingest_signals_workflow_id
from core.errors import InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.signals import DEFAULT_GATE_CONFIG, SignalUser, WorkItem
from db.repositories.actions import ActionRepository
from db.repositories.signals import SignalUserRepository
from db.repository import Repository
from db.uow import unit_of_work
from workflows.approvals import ProposedActionWorkflow, QueueToolCallWorkflow
from workflows.search_attributes import USER_ID
from workflows.signals import IngestSignalsWorkflow

# "App open": ingest only when the last success is older than this.
DEFAULT_STALE_AFTER_SECONDS = 120


def _user_attribute(user_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)])


async def register_user(
    sessions: async_sessionmaker[AsyncSession],
    *,
    user_id: str,
    mailbox: str,
    calendar_id: str | None = None,
    watch_keywords: list[str] | None = None,
    sender_scores: dict[str, float] | None = None,
    active: bool = True,
    team_id: str | None = None,
) -> SignalUser:
    """Add (or update) a user whose mailbox and calendar are ingested; new users get the default rules.

    Re-running it updates only what is given: a calendar, watch list, sender scores or team left
    out (None) stay as they were. `team_id` is the team whose API tokens see the user's work
    items. Invalid rules raise InvalidInputError and write nothing.
    """
    _check_user(user_id, mailbox, watch_keywords, sender_scores)
    if team_id is not None:
        check_team_id(team_id)
    async with unit_of_work(sessions) as session:
        return await SignalUserRepository().ensure(
            session=session,
            user_id=user_id,
            mailbox=mailbox,
            calendar_id=calendar_id,
            gate_config=DEFAULT_GATE_CONFIG,
            watch_keywords=watch_keywords,
            sender_scores=sender_scores,
            active=active,
            team_id=team_id,
        )


# A user id names workflows and a schedule (`ingest-signals/<user>`): no spaces or slashes.
USER_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def _check_user(
    user_id: str, mailbox: str, watch_keywords: list[str] | None, sender_scores: dict[str, float] | None
) -> None:
    if not USER_ID_SHAPE.fullmatch(user_id):
        raise InvalidInputError(
            f"user id {user_id!r} is not valid: letters, digits and . _ @ - only, at most 64 "
            "(it names the user's workflows and schedule)"
        )
    if "@" not in mailbox:
        raise InvalidInputError(f"mailbox {mailbox!r} is not an email address")
    empty = [i for i, word in enumerate(watch_keywords or []) if not word.strip()]
    if empty:
        raise InvalidInputError(f"watch keywords must not be empty (at position {', '.join(map(str, empty))})")
    for sender, score in (sender_scores or {}).items():
        if not sender.strip():
            raise InvalidInputError("a sender score needs an address or @domain, got an empty one")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise InvalidInputError(f"the score of {sender!r} must be a number from 0 to 1, got {score!r}")


async def require_user(sessions: async_sessionmaker[AsyncSession], user_id: str) -> SignalUser:
    """The registered user, or NotFoundError saying how to register one."""
    async with sessions() as session:
        user = await SignalUserRepository().find_by_id(user_id, session=session)
    if user is None:
        raise NotFoundError(f"no signal user {user_id!r}: register it with `intake ingest user-add`")
    return user


async def require_work_item(sessions: async_sessionmaker[AsyncSession], work_item_id: str) -> uuid.UUID:
    """The id of an existing work item; InvalidInputError for a malformed id, NotFoundError for an unknown one."""
    parsed = parse_uuid(work_item_id, "a work item id")
    async with sessions() as session:
        item = await Repository(WorkItem).find_by_id(parsed, session=session)
    if item is None:
        raise NotFoundError(f"no work item {work_item_id}")
    return parsed


async def active_users(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return await SignalUserRepository().active_ids(session=session)


async def start_ingestion(
    client: Client,
    user_id: str,
    *,
    task_queue: str,
    force: bool = False,
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> WorkflowHandle[IngestSignalsWorkflow, IngestSignalsResult]:
    """Ingest now ("app open"): skipped while the last success is fresh, unless `force`.

    A run already going for the user is joined rather than duplicated. With `sessions`
    (the CLI, the API), an unknown user is refused before anything starts.
    """
    if sessions is not None:
        await require_user(sessions, user_id)
    return await client.start_workflow(
        IngestSignalsWorkflow.run,
        IngestSignalsInput(user_id=user_id, min_interval_seconds=None if force else stale_after_seconds),
        id=ingest_signals_workflow_id(user_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_user_attribute(user_id),
    )


async def _action_user(
    sessions: async_sessionmaker[AsyncSession],
    action_id: str,
    *,
    team_id: str | None = None,
    payload_override: dict[str, Any] | None = None,
) -> str:
    """The user of the action (NotFoundError for an unknown one, or with `team_id` for one of
    another team, alike); a payload override naming a field the action's payload lacks is refused."""
    parsed = parse_uuid(action_id, "an action id")
    async with sessions() as session:
        found = await ActionRepository().with_item(parsed, session=session)
    if found is None or (team_id is not None and found[2].team_id != team_id):
        raise NotFoundError(f"no proposed action {action_id}")
    if payload_override:
        fields = payload_model(found[0].action_type).model_fields
        unknown = sorted(set(payload_override) - set(fields))
        if unknown:
            raise InvalidInputError(
                f"the payload override names {', '.join(map(repr, unknown))}, not fields of a "
                f"{found[0].action_type} payload: {', '.join(fields)}"
            )
    return found[1].user_id


async def _decide(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    action_id: str,
    update: Any,
    request: Any,
    *,
    task_queue: str,
    team_id: str | None = None,
    payload_override: dict[str, Any] | None = None,
) -> Any:
    """Send a decision Update to the action's workflow, starting the workflow when none runs.

    With `team_id` (the API), an action of another team's work item is refused as unknown.
    """
    user_id = await _action_user(sessions, action_id, team_id=team_id, payload_override=payload_override)
    start = WithStartWorkflowOperation(
        ProposedActionWorkflow.run,
        ProposedActionInput(action_id=action_id, user_id=user_id),
        id=proposed_action_workflow_id(action_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_user_attribute(user_id),
    )
    return await client.execute_update_with_start_workflow(update, request, start_workflow_operation=start)


async def approve_action(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    action_id: str,
    *,
    task_queue: str,
    payload_override: dict[str, Any] | None = None,
    approved_by: str = "user",
    team_id: str | None = None,
) -> DecideActionResult:
    """Approve: the draft or event is made (once) and the result returned; again = the same result."""
    return await _decide(
        client,
        sessions,
        action_id,
        ProposedActionWorkflow.approve,
        ApproveActionInput(approved_by=approved_by, payload_override=payload_override),
        task_queue=task_queue,
        team_id=team_id,
        payload_override=payload_override,
    )


async def reject_action(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    action_id: str,
    *,
    task_queue: str,
    note: str | None = None,
    rejected_by: str = "user",
    team_id: str | None = None,
) -> DecideActionResult:
    """Reject: the action and its work item are dismissed, with negative feedback and the note."""
    return await _decide(
        client,
        sessions,
        action_id,
        ProposedActionWorkflow.reject,
        RejectActionInput(rejected_by=rejected_by, note=note),
        task_queue=task_queue,
        team_id=team_id,
    )


async def give_feedback(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    action_id: str,
    *,
    task_queue: str,
    positive: bool,
    note: str | None = None,
    given_by: str = "user",
    team_id: str | None = None,
) -> RecordFeedbackResult:
    return await _decide(
        client,
        sessions,
        action_id,
        ProposedActionWorkflow.feedback,
        GiveFeedbackInput(rating="positive" if positive else "negative", note=note, given_by=given_by),
        task_queue=task_queue,
        team_id=team_id,
    )


async def queue_tool_call(
    client: Client,
    request: QueueToolCallInput,
    *,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> QueueToolCallResult:
    """Queue a tool call for approval; the same call id queued twice is one work item.

    With `sessions`, an unknown user is refused before anything starts.
    """
    try:
        payload_model(request.action_type).model_validate(request.payload)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"not a {request.action_type} payload", err) from None
    if sessions is not None:
        await require_user(sessions, request.user_id)
    return await client.execute_workflow(
        QueueToolCallWorkflow.run,
        request,
        id=tool_call_workflow_id(request.user_id, request.call_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=_user_attribute(request.user_id),
    )
