"""What the web dashboard reads and does, team by team (api/ui/ calls these; no logic lives in the pages).

Reads are client/views.py's, the read layer the admin API answers with, plus the few a
page shows beyond it (db/repositories/pages.py: the queue's size and gates, jobs per
status, the drafts read kind by kind, the extraction runs' workflows, the team's mirrored
runs and batch imports, paged in SQL). A run's page is client/mirror_reports.py's timeline
(the CLI's `intake report run`), a batch's client/batches.py's status (`intake batch status`),
each read once the run or batch is found to be the team's. Actions are the
same client functions as the CLI and the admin API (client.signals approve/reject/feedback
with the caller's team, client.admin's team-scoped retries), each refusing another team's
item as not found.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError

from client import admin, views
from client.batches import load_batch_status
from client.discussions import DiscussionNotRetryableError
from client.mirror_reports import execution_row, run_timeline
from client.runs import failure_error
from client.signals import approve_action, give_feedback, reject_action
from contracts.approvals import DecideActionResult, RecordFeedbackResult, payload_model
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.batches import BATCH_STATUSES
from db.models.discussions import JOB_STAGES, JOB_STATUSES
from db.models.mirror import EXECUTION_STATUSES
from db.repositories import pages as extra

PAGE_SIZE = 25
# How long a retry from a page waits for the new job to be written (to link to it) before answering.
RETRY_JOB_WAIT_SECONDS = 2.0
T = TypeVar("T")

# How many of a batch's error rows its page shows (`intake batch errors` prints them all).
BATCH_ERROR_ROWS = 20

__all__ = ["BATCH_STATUSES", "EXECUTION_STATUSES", "JOB_STAGES", "JOB_STATUSES"]


def page_id(value: str, what: str) -> uuid.UUID:
    """A UUID from a page's URL; a malformed one is "not found" (nothing has that id)."""
    try:
        return parse_uuid(value, what)
    except InvalidInputError:
        raise NotFoundError(f"no {what.split(' ', 1)[1].removesuffix(' id')} {value}") from None


async def token_is_live(sessions: async_sessionmaker[AsyncSession], token_id: str, team_id: str) -> bool:
    """Whether the token a session signed in with still exists, unrevoked, for that team."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        return False
    async with sessions() as session:
        token = await extra.live_token(parsed, session=session)
    return token is not None and token.team_id == team_id


# -- the inbox -------------------------------------------------------------------------------


async def inbox(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """A page of the approval queue, each row with its gate evaluations, and the queue's size."""
    queue = await views.approval_queue(sessions, team_id=team_id, limit=limit, cursor=cursor)
    async with sessions() as session:
        gates = await extra.gates_of([item.work_item_id for item in queue.items], session=session)
        total = await extra.queue_count(session=session, team_id=team_id)
    return {"page": queue, "gates": gates, "total": f"{total}+" if total >= extra.QUEUE_COUNT_CAP else str(total)}


async def drafts(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None
) -> views.DraftPage:
    """The drafts and events made, newest first (the admin API's read, a page at a time)."""
    return await views.drafts(sessions, team_id=team_id, limit=PAGE_SIZE, cursor=cursor)


async def processed(sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None) -> Any:
    return await views.processed(sessions, team_id=team_id, limit=PAGE_SIZE, cursor=cursor)


async def work_item(sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_item_id: str) -> dict[str, Any]:
    """A work item with its action, gates and feedback, its run timeline and its audit log."""
    parsed = page_id(work_item_id, "a work item id")
    item = await views.get_work_item(sessions, team_id=team_id, work_item_id=parsed)
    timeline = await views.timeline(sessions, team_id=team_id, work_item_id=parsed)
    audit = await views.audit_log(sessions, team_id=team_id, target_type="work_item", target_id=str(parsed))
    return {"item": item, "timeline": timeline.items, "audit": list(reversed(audit.items))}


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
        payload_model(action_type).model_validate(payload)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"not a {action_type} payload", err) from None
    return payload


async def _refusal(call: Awaitable[T]) -> T:
    """A refused run or Update as its refusal (an IntakeError saying why)."""
    try:
        return await call
    except (WorkflowFailureError, WorkflowUpdateFailedError) as err:
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
    return await _refusal(
        approve_action(
            client,
            sessions,
            str(page_id(action_id, "an action id")),
            task_queue=task_queue,
            payload_override=override,
            approved_by=approved_by,
            team_id=team_id,
        )
    )


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
    return await _refusal(
        reject_action(
            client,
            sessions,
            str(page_id(action_id, "an action id")),
            task_queue=task_queue,
            note=note,
            rejected_by=rejected_by,
            team_id=team_id,
        )
    )


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
    return await _refusal(
        give_feedback(
            client,
            sessions,
            str(page_id(action_id, "an action id")),
            task_queue=task_queue,
            positive=positive,
            note=note,
            given_by=given_by,
            team_id=team_id,
        )
    )


# -- discussions and jobs --------------------------------------------------------------------


async def jobs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    status: str | None = None,
    stage: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of the team's jobs, newest first, by status and stage, and how many jobs are in each status."""
    listing = await views.list_jobs(
        sessions, team_id=team_id, status=status, stage=stage, limit=PAGE_SIZE, cursor=cursor
    )
    async with sessions() as session:
        counts = await extra.job_counts(session=session, team_id=team_id)
    return {"page": listing, "counts": {name: counts.get(name, 0) for name in JOB_STATUSES}}


async def job(sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str) -> views.JobDetail:
    return await views.get_job(sessions, team_id=team_id, job_id=page_id(job_id, "a job id"))


async def discussion(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, discussion_id: str
) -> views.DiscussionDetail:
    return await views.get_discussion(
        sessions, team_id=team_id, discussion_id=page_id(discussion_id, "a discussion id")
    )


async def retry_job(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    job_id: str,
    retried_by: str,
    task_queue: str,
) -> tuple[views.JobDetail, admin.RetryAccepted]:
    """Retry a failed job's discussion as a new job (client.admin, as the admin API does); refused
    (ConflictError saying why) when the job has not failed."""
    found = await job(sessions, team_id=team_id, job_id=job_id)
    if found.status != "failed":
        raise ConflictError(f"job {job_id} is {found.status}, not failed: only a failed job can be retried")
    if found.discussion_id is None:
        raise ConflictError(f"job {job_id} failed before its discussion was saved: there is no thread to retry")
    try:
        accepted = await _refusal(
            admin.retry_team_discussion(
                client,
                sessions,
                team_id=team_id,
                discussion_id=found.discussion_id,
                retried_by=retried_by,
                task_queue=task_queue,
                wait_seconds=RETRY_JOB_WAIT_SECONDS,
            )
        )
    except DiscussionNotRetryableError as err:
        raise ConflictError(str(err)) from None
    return found, accepted


# -- work orders and exports -----------------------------------------------------------------


async def work_orders(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, failed_cursor: str | None = None
) -> dict[str, Any]:
    """The team's last 20 work orders with their export status, and a page of its FAILED export jobs."""
    latest = await views.list_work_orders(sessions, team_id=team_id, limit=views.PREVIEW_LIMIT)
    failed = await views.list_export_jobs(
        sessions, team_id=team_id, status="FAILED", limit=PAGE_SIZE, cursor=failed_cursor
    )
    return {"orders": latest.items, "failed": failed}


async def work_order(sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_order_id: str) -> dict[str, Any]:
    found = await views.get_work_order(
        sessions, team_id=team_id, work_order_id=page_id(work_order_id, "a work order id")
    )
    async with sessions() as session:
        workflows = await extra.extraction_workflows([run.id for run in found.extraction_runs], session=session)
    return {"order": found, "run_workflows": workflows}


async def retry_export(
    client: Client, sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str, task_queue: str
) -> admin.ExportRetryAccepted:
    """Put one FAILED export job of the team back in the queue and drain (client.admin, as the admin
    API does); refused when it is not FAILED."""
    return await admin.retry_team_export(
        client, sessions, team_id=team_id, job_id=page_id(job_id, "an export job id"), task_queue=task_queue
    )


# -- runs (the engine mirror) ----------------------------------------------------------------


def day_of(value: str | None, what: str) -> datetime | None:
    """A day (YYYY-MM-DD) from a filter, as its midnight UTC; InvalidInputError when it is not one."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInputError(f"{what} {value!r} is not a day: use YYYY-MM-DD") from None
    return day.replace(tzinfo=UTC)


async def runs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    workflow_type: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of the team's mirrored runs, newest first, by type, status and the days they started
    (`until` is the last day included), and the workflow types its recent runs have."""
    if status and status not in EXECUTION_STATUSES:
        raise InvalidInputError(f"status {status!r} is not one of {', '.join(EXECUTION_STATUSES)}")
    first, last = day_of(since, "from"), day_of(until, "to")
    async with sessions() as session:
        listing = await extra.team_executions(
            session=session,
            team_id=team_id,
            workflow_type=workflow_type,
            status=status,
            since=first,
            until=last + timedelta(days=1) if last else None,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        types = await extra.team_workflow_types(session=session, team_id=team_id)
    return {"runs": [execution_row(e) for e in listing.rows], "next_cursor": listing.next_cursor, "types": types}


async def run(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, workflow_id: str, run_id: str
) -> dict[str, Any]:
    """One of the team's runs as `intake report run` shows it: steps, attempts, timers, timeline."""
    async with sessions() as session:
        found = await extra.team_execution(workflow_id, run_id, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no run {run_id} of workflow {workflow_id} (the mirror may not have it yet)")
    found_run = await run_timeline(sessions, workflow_id, run_id=run_id)
    return {**found_run, "step_names": {s["activity_id"]: s["name"] for s in found_run["steps"]}}


# -- batch imports ---------------------------------------------------------------------------


async def batches(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, cursor: str | None = None
) -> dict[str, Any]:
    """A page of the batches of the team's workspaces, newest first."""
    async with sessions() as session:
        listing = await extra.team_batches(session=session, team_id=team_id, limit=PAGE_SIZE, cursor=cursor)
    return {"items": listing.rows, "next_cursor": listing.next_cursor}


async def batch(sessions: async_sessionmaker[AsyncSession], *, team_id: str, batch_id: str) -> dict[str, Any]:
    """One of the team's batches as `intake batch status` shows it (its chunks by status, its first error rows)."""
    parsed = page_id(batch_id, "a batch id")
    async with sessions() as session:
        found = await extra.team_batch(parsed, session=session, team_id=team_id)
    if found is None:
        raise NotFoundError(f"no batch {batch_id}")
    status = await load_batch_status(sessions, parsed, errors=BATCH_ERROR_ROWS)
    return {"batch": status, "workspace": found[1], "record": found[0]}
