"""What the web dashboard reads and does, team by team (api/ui/ calls these; no logic lives in the pages).

Reads go through db/repositories/pages.py, one page of a list per call. Actions check
that the item is the caller's team's (NotFoundError otherwise: another team's item
does not exist for this team), then call the same client functions as the CLI and
the admin API: client.signals.approve_action/reject_action/give_feedback,
client.discussions.retry_discussion, client.work_orders.retry_failed_exports.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError

from client.discussions import DiscussionHandle, retry_discussion
from client.runs import failure_error
from client.signals import approve_action, give_feedback, reject_action
from client.work_orders import retry_failed_exports
from contracts.approvals import DecideActionResult, RecordFeedbackResult, payload_model
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.signals import GateEvaluation
from db.repositories import pages as reads
from db.repositories.run_log import RunLogRepository

PAGE_SIZE = 25


@dataclass
class Page:
    """One page of a list: its rows and the cursor of the next page (None on the last)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _encode(key: Sequence[Any]) -> str:
    values = [value.isoformat() if isinstance(value, datetime) else str(value) for value in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str | None, order: Sequence[Any]) -> tuple[Any, ...] | None:
    """A cursor back into a sort key, each value as its column's type; InvalidInputError for a bad one."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError(cursor)
        key: list[Any] = []
        for value, column in zip(values, order, strict=True):
            kind = column.type.python_type
            key.append(
                datetime.fromisoformat(value)
                if kind is datetime
                else uuid.UUID(value)
                if kind is uuid.UUID
                else kind(value)
            )
        return tuple(key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(f"the page cursor {cursor!r} is not one this dashboard made") from None


def _paged(rows: list[dict[str, Any]], order: Sequence[Any], limit: int) -> Page:
    if len(rows) <= limit:
        return Page(rows)
    rows = rows[:limit]
    return Page(rows, _encode(reads.key_of(rows[-1], order)))


def _id(value: str, what: str) -> uuid.UUID:
    """A UUID from a URL; a malformed one is "not found" on a page (nothing has that id)."""
    try:
        return parse_uuid(value, what)
    except InvalidInputError:
        raise NotFoundError(f"no {what.removeprefix('a ').removeprefix('an ')} {value}") from None


# -- sign-in -------------------------------------------------------------------------------


async def token_is_live(sessions: async_sessionmaker[AsyncSession], token_id: str, team_id: str) -> bool:
    """Whether the token a session was signed in with still exists, unrevoked, for that team."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        return False
    async with sessions() as session:
        token = await reads.live_token(parsed, session=session)
    return token is not None and token.team_id == team_id


# -- the inbox -----------------------------------------------------------------------------


async def inbox(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """The approval queue, one page, each row with its gate evaluations; the queue's size in extra."""
    after = _decode(cursor, reads.QUEUE_ORDER)
    async with sessions() as session:
        rows = await reads.approval_queue(session=session, team_id=team_id, after=after, limit=limit)
        page = _paged(rows, reads.QUEUE_ORDER, limit)
        gates = await reads.gates_of([row["id"] for row in page.rows], session=session)
        total = await reads.queue_count(session=session, team_id=team_id)
    for row in page.rows:
        row["gates"] = gates.get(row["id"], [])
    page.extra["total"] = total
    return page


async def processed(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    after = _decode(cursor, reads.PROCESSED_ORDER)
    async with sessions() as session:
        rows = await reads.processed(session=session, team_id=team_id, after=after, limit=limit)
    return _paged(rows, reads.PROCESSED_ORDER, limit)


async def drafts(sessions: async_sessionmaker[AsyncSession], *, team_id: str, limit: int = PAGE_SIZE) -> list[dict]:
    async with sessions() as session:
        return await reads.drafts(session=session, team_id=team_id, limit=limit)


async def work_item(sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_item_id: str) -> dict[str, Any]:
    """One work item with its action, gates, feedback, audit log and run timeline; NotFoundError when not the team's."""
    parsed = _id(work_item_id, "a work item id")
    async with sessions() as session:
        found = await reads.work_item(parsed, session=session, team_id=team_id)
        if found is None:
            raise NotFoundError(f"no work item {work_item_id}")
        found["timeline"] = await RunLogRepository().timeline(parsed, session=session)
    return found


def passed_gates(gates: list[GateEvaluation]) -> list[GateEvaluation]:
    return [gate for gate in gates if gate.passed]


async def _team_action(sessions: async_sessionmaker[AsyncSession], team_id: str, action_id: str) -> str:
    parsed = _id(action_id, "an action id")
    async with sessions() as session:
        action = await reads.action_of_team(parsed, session=session, team_id=team_id)
    if action is None:
        raise NotFoundError(f"no proposed action {action_id}")
    return str(action.id)


def payload_override(action_type: str, fields: dict[str, str]) -> dict[str, Any]:
    """The edited draft or event from a form, checked as the action's payload (InvalidInputError saying what is wrong).

    A draft reply's form has its fields (to, subject, body); any other action has its payload as JSON.
    """
    if "payload_json" in fields:
        try:
            payload = json.loads(fields["payload_json"])
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"the edited payload is not JSON: {err.msg} at line {err.lineno}") from None
        if not isinstance(payload, dict):
            raise InvalidInputError("the edited payload must be a JSON object")
    else:
        payload = {name: value for name, value in fields.items() if name in ("to", "subject", "body")}
    try:
        model = payload_model(action_type)
    except KeyError:
        raise InvalidInputError(f"action type {action_type!r} has no editable payload") from None
    try:
        model.model_validate(payload)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"not a {action_type} payload", err) from None
    return payload


async def _decided(call: Any) -> Any:
    try:
        return await call
    except WorkflowUpdateFailedError as err:
        raise failure_error(err) from None


async def approve(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    action_id: str,
    task_queue: str,
    override: dict[str, Any] | None,
    approved_by: str,
) -> DecideActionResult:
    checked = await _team_action(sessions, team_id, action_id)
    result: DecideActionResult = await _decided(
        approve_action(
            client, sessions, checked, task_queue=task_queue, payload_override=override, approved_by=approved_by
        )
    )
    return result


async def reject(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    action_id: str,
    task_queue: str,
    note: str | None,
    rejected_by: str,
) -> DecideActionResult:
    checked = await _team_action(sessions, team_id, action_id)
    result: DecideActionResult = await _decided(
        reject_action(client, sessions, checked, task_queue=task_queue, note=note, rejected_by=rejected_by)
    )
    return result


async def feedback(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    action_id: str,
    task_queue: str,
    positive: bool,
    note: str | None,
    given_by: str,
) -> RecordFeedbackResult:
    checked = await _team_action(sessions, team_id, action_id)
    result: RecordFeedbackResult = await _decided(
        give_feedback(client, sessions, checked, task_queue=task_queue, positive=positive, note=note, given_by=given_by)
    )
    return result


# -- discussions and jobs ------------------------------------------------------------------

JOB_STATUSES = ("pending", "processing", "completed", "failed")
JOB_STAGES = ("ingestion", "thread_building", "ai_analysis", "task_creation", "notification")


async def jobs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    status: str | None = None,
    stage: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """The team's jobs, newest first, filtered by status and stage; counts per status in extra."""
    if status and status not in JOB_STATUSES:
        raise InvalidInputError(f"status {status!r} is not one of {', '.join(JOB_STATUSES)}")
    if stage and stage not in JOB_STAGES:
        raise InvalidInputError(f"stage {stage!r} is not one of {', '.join(JOB_STAGES)}")
    after = _decode(cursor, reads.JOB_ORDER)
    async with sessions() as session:
        rows = await reads.jobs(session=session, team_id=team_id, status=status, stage=stage, after=after, limit=limit)
        counts = await reads.job_counts(session=session, team_id=team_id)
    page = _paged(rows, reads.JOB_ORDER, limit)
    page.extra["counts"] = {name: counts.get(name, 0) for name in JOB_STATUSES}
    return page


async def job(sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str) -> Any:
    parsed = _id(job_id, "a job id")
    async with sessions() as session:
        found = await reads.job(parsed, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no job {job_id}")
    return found


async def discussion(sessions: async_sessionmaker[AsyncSession], *, team_id: str, discussion_id: str) -> dict[str, Any]:
    parsed = _id(discussion_id, "a discussion id")
    async with sessions() as session:
        found = await reads.discussion(parsed, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no discussion {discussion_id}")
    return found


async def retry_job(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    job_id: str,
    retried_by: str,
    task_queue: str,
) -> DiscussionHandle:
    """Retry a failed job's discussion as a new job; refused (ConflictError saying why) when it is not failed."""
    found = await job(sessions, team_id=team_id, job_id=job_id)
    if found.status != "failed":
        raise ConflictError(f"job {job_id} is {found.status}, not failed: only a failed job can be retried")
    if found.discussion_id is None:
        raise ConflictError(f"job {job_id} failed before its discussion was saved: there is no thread to retry")
    return await retry_discussion(
        client,
        sessions,
        team_id=team_id,
        discussion_id=str(found.discussion_id),
        retried_by=retried_by,
        task_queue=task_queue,
    )


# -- work orders and exports ---------------------------------------------------------------


async def work_orders(sessions: async_sessionmaker[AsyncSession], *, team_id: str, limit: int = 20) -> list[dict]:
    async with sessions() as session:
        return await reads.work_orders(session=session, team_id=team_id, limit=limit)


async def failed_exports(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    after = _decode(cursor, reads.EXPORT_ORDER)
    async with sessions() as session:
        rows = await reads.export_jobs(session=session, team_id=team_id, status="FAILED", after=after, limit=limit)
    return _paged(rows, reads.EXPORT_ORDER, limit)


async def work_order(sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_order_id: str) -> dict[str, Any]:
    parsed = _id(work_order_id, "a work order id")
    async with sessions() as session:
        found = await reads.work_order(parsed, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no work order {work_order_id}")
    return found


async def retry_export(
    client: Client, sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str, task_queue: str
) -> None:
    """Put one FAILED export job of the team back in the queue and drain; refused when it is not FAILED."""
    parsed = _id(job_id, "an export job id")
    async with sessions() as session:
        found = await reads.export_job(parsed, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no export job {job_id}")
    await retry_failed_exports(client, task_queue=task_queue, job_ids=[str(found.id)], sessions=sessions)
