"""Activities that decide proposed actions: approve, reject, feedback, queue a tool call.

Approving is two activities: `create_at_provider` makes the Gmail draft or Calendar event
(once per action: the provider is asked with a key derived from the action id, and answers
a repeat with what it made the first time), then `complete_approval` writes everything in
ONE transaction: action executed with its result, draft or event row upserted, work item
completed, run log, audit log. An action already executed returns its stored result from
both, without calling the provider again: approving twice gives the same answer and makes
nothing new. Reject, feedback and queueing a tool call are one transaction each; feedback (which may replace
an earlier verdict, so it has no "already done" state of its own) claims the activity's key in
that transaction (`run_once`), so a retry after the commit writes nothing again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.deps import Deps
from activities.gates import INTAKE_EVENT_MARKER
from activities.keys import activity_key
from contracts.approvals import (
    DRAFT_ACTIONS,
    CompleteApprovalInput,
    CreateAtProviderInput,
    CreateAtProviderResult,
    DecideActionResult,
    DismissActionInput,
    DraftPayload,
    EventPayload,
    RecordFeedbackInput,
    RecordFeedbackResult,
    RecordToolCallInput,
    RecordToolCallResult,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.idempotency import run_once
from db.models.signals import ProposedAction, SignalUser, WorkItem
from db.repositories.actions import (
    ActionRepository,
    CalendarEventRepository,
    FeedbackRepository,
    GmailDraftRepository,
)
from db.repositories.run_log import AuditLogRepository, RunLogRepository
from db.repositories.signals import SignalUserRepository
from db.repository import Repository
from db.uow import unit_of_work

# -- payloads ------------------------------------------------------------------------------


# -- the activities -------------------------------------------------------------------------


class ApprovalActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._services = deps.services
        self._actions = ActionRepository()
        self._items = Repository(WorkItem)
        self._users = SignalUserRepository()
        self._drafts = GmailDraftRepository()
        self._events = CalendarEventRepository()
        self._feedback = FeedbackRepository()
        self._runs = RunLogRepository()
        self._audit = AuditLogRepository()

    @activity.defn(name="approval_create_at_provider")
    async def create_at_provider(self, input: CreateAtProviderInput) -> CreateAtProviderResult:
        """Make the action's Gmail draft or Calendar event, once per action however often asked."""
        async with self._sessions() as session:
            action, _, user = await self._load(session, input.action_id)
        if action.status == "executed":
            return CreateAtProviderResult(already_executed=True, payload=action.payload)
        if action.status == "dismissed":
            raise ConflictError(f"action {action.id} was rejected; it cannot be approved")
        payload = {**action.payload, **(input.payload_override or {})}
        key = f"intake-action-{action.id}"
        if action.action_type in DRAFT_ACTIONS:
            draft = _validated(DraftPayload, payload)
            made = await self._services.gmail.create_draft(
                user.mailbox,
                key=key,
                to=draft.to,
                subject=draft.subject,
                body=draft.body,
                thread_id=draft.thread_id,
            )
            return CreateAtProviderResult(
                already_executed=False,
                payload=draft.model_dump(mode="json"),
                provider_id=made.id,
                provider_message_id=made.message_id,
                thread_id=made.thread_id,
            )
        event = _validated(EventPayload, payload)
        if INTAKE_EVENT_MARKER not in event.description:
            event.description = f"{event.description}\n\n{INTAKE_EVENT_MARKER}".strip()
        inserted = await self._services.calendar.insert_event(
            user.calendar_id,
            key=key,
            summary=event.summary,
            start=event.start,
            end=event.end,
            description=event.description,
            attendees=tuple(event.attendees),
        )
        return CreateAtProviderResult(
            already_executed=False,
            payload=event.model_dump(mode="json"),
            provider_id=inserted.event.id,
            html_link=inserted.event.html_link,
        )

    @activity.defn(name="approval_complete")
    async def complete_approval(self, input: CompleteApprovalInput) -> DecideActionResult:
        """Action executed, draft / event stored, work item completed, run log, audit log: together."""
        async with unit_of_work(self._sessions) as session:
            action, item, user = await self._load(session, input.action_id, lock=True)
            if action.status == "executed" and action.result is not None:
                return DecideActionResult.model_validate(action.result)
            if action.status == "dismissed":
                raise ConflictError(f"action {action.id} was rejected; it cannot be approved")
            provider = input.provider
            if provider.already_executed or provider.provider_id is None:
                raise ConflictError(f"action {action.id} has no provider result to record")
            now = datetime.now(UTC)
            outcome = DecideActionResult(
                action_id=str(action.id),
                work_item_id=str(item.id),
                action_type=action.action_type,
                status="executed",
                provider_id=provider.provider_id,
                html_link=provider.html_link,
                decided_at=now,
            )
            if action.action_type in DRAFT_ACTIONS:
                await self._drafts.upsert(
                    session=session,
                    action_id=action.id,
                    provider_draft_id=provider.provider_id,
                    provider_message_id=provider.provider_message_id or "",
                    thread_id=provider.thread_id,
                )
            else:
                event = EventPayload.model_validate(provider.payload)
                await self._events.upsert(
                    session=session,
                    action_id=action.id,
                    provider_event_id=provider.provider_id,
                    html_link=provider.html_link,
                    starts_at=event.start,
                    ends_at=event.end,
                )
            await self._actions.update_by_id(
                action.id,
                session=session,
                status="executed",
                payload=provider.payload,
                result=outcome.model_dump(mode="json"),
                executed_at=now,
            )
            await self._close_item(session, item, "completed", now)
            await self._log(
                session,
                item,
                user,
                "approve",
                "action.approved",
                input.workflow_id,
                input.workflow_run_id,
                {"action_id": str(action.id), "by": input.approved_by, "provider_id": provider.provider_id},
            )
            return outcome

    @activity.defn(name="approval_dismiss")
    async def dismiss(self, input: DismissActionInput) -> DecideActionResult:
        """Action and work item dismissed, negative feedback with the note, run log, audit log."""
        async with unit_of_work(self._sessions) as session:
            action, item, user = await self._load(session, input.action_id, lock=True)
            if action.status == "dismissed" and action.result is not None:
                return DecideActionResult.model_validate(action.result)
            if action.status == "executed":
                raise ConflictError(f"action {action.id} was approved already; it cannot be rejected")
            now = datetime.now(UTC)
            outcome = DecideActionResult(
                action_id=str(action.id),
                work_item_id=str(item.id),
                action_type=action.action_type,
                status="dismissed",
                decided_at=now,
            )
            await self._actions.update_by_id(
                action.id, session=session, status="dismissed", result=outcome.model_dump(mode="json")
            )
            await self._close_item(session, item, "dismissed", now)
            await self._feedback.upsert(session=session, work_item_id=item.id, rating="negative", note=input.note)
            await self._log(
                session,
                item,
                user,
                "dismiss",
                "action.rejected",
                input.workflow_id,
                input.workflow_run_id,
                {"action_id": str(action.id), "by": input.rejected_by, "note": input.note},
            )
            return outcome

    @activity.defn(name="approval_record_feedback")
    async def record_feedback(self, input: RecordFeedbackInput) -> RecordFeedbackResult:
        """The user's verdict on the action's work item (replacing an earlier one), with run log and audit log."""
        async with unit_of_work(self._sessions) as session:
            _, item, user = await self._load(session, input.action_id)

            async def write(session: AsyncSession) -> RecordFeedbackResult:
                await self._feedback.upsert(session=session, work_item_id=item.id, rating=input.rating, note=input.note)
                await self._log(
                    session,
                    item,
                    user,
                    "feedback",
                    f"feedback.{input.rating}",
                    input.workflow_id,
                    input.workflow_run_id,
                    {"by": input.given_by, "note": input.note},
                )
                return RecordFeedbackResult(work_item_id=str(item.id), rating=input.rating)

            # A retry after the commit (the answer lost on the way back) writes nothing again.
            once = await run_once(
                session,
                activity_key("approval_record_feedback"),
                write,
                result_type=RecordFeedbackResult,
                scope="approval_record_feedback",
            )
        return once.value

    @activity.defn(name="approval_record_tool_call")
    async def record_tool_call(self, input: RecordToolCallInput) -> RecordToolCallResult:
        """A work item and its proposed action, inserted together; the same call id twice inserts once."""
        _validated(DraftPayload if input.action_type in DRAFT_ACTIONS else EventPayload, input.payload)
        async with unit_of_work(self._sessions) as session:
            user = await self._users.find_by_id(input.user_id, session=session)
            if user is None:
                raise NotFoundError(f"no signal user {input.user_id!r}")
            content_hash = hashlib.sha256(json.dumps(input.payload, sort_keys=True).encode()).hexdigest()
            item_id, action_id, created = await self._actions.queue(
                session=session,
                user_id=input.user_id,
                call_id=input.call_id,
                summary=input.summary,
                context=input.context,
                action_type=input.action_type,
                payload=input.payload,
                importance_tier=input.importance_tier,
                importance_score=input.importance_score,
                content_hash=content_hash,
            )
            if created:
                item = await self._items.find_by_id(item_id, session=session)
                assert item is not None
                await self._log(
                    session,
                    item,
                    user,
                    "queue",
                    "work_item.queued",
                    input.workflow_id,
                    input.workflow_run_id,
                    {"call_id": input.call_id, "action_type": input.action_type},
                )
        return RecordToolCallResult(work_item_id=str(item_id), action_id=str(action_id), created=created)

    # helpers ----------------------------------------------------------------------------------

    async def _load(
        self,
        session: AsyncSession,
        action_id: str,
        *,
        lock: bool = False,
    ) -> tuple[ProposedAction, WorkItem, SignalUser]:
        found = await self._actions.with_item(_uuid(action_id, "action"), session=session, lock=lock)
        if found is None:
            raise NotFoundError(f"no proposed action {action_id}")
        return found

    async def _close_item(self, session: AsyncSession, item: WorkItem, status: str, at: datetime) -> None:
        await self._items.update_by_id(item.id, session=session, status=status, completed_at=at)

    async def _log(
        self,
        session: AsyncSession,
        item: WorkItem,
        user: SignalUser,
        phase: str,
        action: str,
        workflow_id: str,
        workflow_run_id: str,
        payload: dict[str, Any],
    ) -> None:
        await self._runs.record(
            session=session,
            work_item_id=item.id,
            phase=phase,
            workflow_id=workflow_id,
            workflow_run_id=workflow_run_id,
            events=[(action, payload)],
        )
        await self._audit.record(
            session=session,
            user_id=user.user_id,
            action=action,
            target_type="work_item",
            target_id=str(item.id),
            payload=payload,
        )


def _uuid(value: str, what: str) -> uuid.UUID:
    return parse_uuid(value, f"a {what} id")


def _validated(model: type[BaseModel], payload: dict[str, Any]) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"the action's payload is not a valid {model.__name__}", err) from err
