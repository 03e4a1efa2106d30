"""Team-scoped reads behind the web dashboard: one page of a list per call, filtered and ordered in SQL.

Every read takes the team and returns only that team's rows: a work item through its
signal user's team, a job or discussion by its own team, a work order or export job
through its workspace's team. A row of another team is simply not found (the caller
answers 404). Lists are keyset-paginated: `after` is the sort key of the last row of
the previous page (all keys descending, so one row comparison does it), and each
order matches an index (migrations/versions/0012_dashboard.py) so a page reads only
its own rows, however large the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, Text, cast, func, null, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.api import ApiToken
from db.models.discussions import Discussion, Job, Task
from db.models.signals import (
    AuditLog,
    CalendarEventRecord,
    FeedbackEntry,
    GateEvaluation,
    GmailDraft,
    ProposedAction,
    SignalUser,
    WorkItem,
)
from db.models.work_orders import (
    ExportJob,
    ExtractionRun,
    SignedDocument,
    SignedMatch,
    WorkOrder,
    WorkOrderSource,
    Workspace,
)

# A page's sort key: the values of its ORDER BY columns for one row, all descending.
Key = tuple[Any, ...]


SelectT = TypeVar("SelectT", bound=Select)


def _page(stmt: SelectT, order: Sequence[Any], after: Key | None, limit: int) -> SelectT:
    """`stmt` ordered by `order` (each descending), starting after `after`, one row more than `limit`
    (the extra row says whether a next page exists)."""
    if after is not None:
        stmt = stmt.where(tuple_(*order) < tuple_(*after))
    return stmt.order_by(*(column.desc() for column in order)).limit(limit + 1)


def _team_users(team_id: str) -> Select[Any]:
    return select(SignalUser.user_id).where(SignalUser.team_id == team_id)


def _team_workspaces(team_id: str) -> Select[Any]:
    return select(Workspace.id).where(Workspace.team_id == team_id)


# -- signal pipeline ----------------------------------------------------------------------

QUEUE_ORDER = (WorkItem.importance_score, WorkItem.updated_at, WorkItem.id)
PROCESSED_ORDER = (WorkItem.updated_at, WorkItem.id)


async def approval_queue(
    *, session: AsyncSession, team_id: str, user_id: str | None = None, after: Key | None = None, limit: int = 25
) -> list[dict[str, Any]]:
    """Work items awaiting approval with their pending action, most important first."""
    stmt = (
        select(
            WorkItem.id,
            WorkItem.user_id,
            WorkItem.source,
            WorkItem.actor,
            WorkItem.summary,
            WorkItem.preview,
            WorkItem.intent,
            WorkItem.importance_tier,
            WorkItem.importance_score,
            WorkItem.occurred_at,
            WorkItem.updated_at,
            ProposedAction.id.label("action_id"),
            ProposedAction.action_type,
            ProposedAction.payload,
        )
        .join(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(
            WorkItem.status == "awaiting_approval",
            ProposedAction.status == "pending",
            WorkItem.user_id.in_(_team_users(team_id)),
        )
    )
    if user_id is not None:
        stmt = stmt.where(WorkItem.user_id == user_id)
    return [dict(row._mapping) for row in await session.execute(_page(stmt, QUEUE_ORDER, after, limit))]


async def queue_count(*, session: AsyncSession, team_id: str) -> int:
    stmt = select(func.count()).where(
        WorkItem.status == "awaiting_approval", WorkItem.user_id.in_(_team_users(team_id))
    )
    return int(await session.scalar(stmt) or 0)


async def gates_of(
    work_item_ids: Sequence[uuid.UUID], *, session: AsyncSession
) -> dict[uuid.UUID, list[GateEvaluation]]:
    """The gate evaluations of these work items, by item, in gate order."""
    if not work_item_ids:
        return {}
    rows = await session.scalars(
        select(GateEvaluation)
        .where(GateEvaluation.work_item_id.in_(work_item_ids))
        .order_by(GateEvaluation.work_item_id, GateEvaluation.id)
    )
    found: dict[uuid.UUID, list[GateEvaluation]] = {}
    for row in rows:
        found.setdefault(row.work_item_id, []).append(row)
    return found


async def processed(
    *, session: AsyncSession, team_id: str, after: Key | None = None, limit: int = 25
) -> list[dict[str, Any]]:
    """Work items the team decided (completed or dismissed), most recently decided first."""
    stmt = (
        select(
            WorkItem.id,
            WorkItem.user_id,
            WorkItem.summary,
            WorkItem.status,
            WorkItem.importance_tier,
            WorkItem.completed_at,
            WorkItem.updated_at,
            ProposedAction.id.label("action_id"),
            ProposedAction.action_type,
            ProposedAction.status.label("action_status"),
        )
        .outerjoin(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(WorkItem.status.in_(("completed", "dismissed")), WorkItem.user_id.in_(_team_users(team_id)))
    )
    return [dict(row._mapping) for row in await session.execute(_page(stmt, PROCESSED_ORDER, after, limit))]


async def drafts(*, session: AsyncSession, team_id: str, limit: int = 25) -> list[dict[str, Any]]:
    """Gmail drafts and Calendar events that the team's approvals made, newest first."""
    users = _team_users(team_id)
    made = []
    for table, provider_id, link in (
        (GmailDraft, GmailDraft.provider_draft_id, None),
        (CalendarEventRecord, CalendarEventRecord.provider_event_id, CalendarEventRecord.html_link),
    ):
        made.append(
            select(
                WorkItem.id.label("work_item_id"),
                WorkItem.user_id,
                WorkItem.summary,
                ProposedAction.action_type,
                provider_id.label("provider_id"),
                (link if link is not None else cast(null(), Text)).label("link"),
                table.synced_at,
            )
            .join(ProposedAction, ProposedAction.id == table.action_id)
            .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
            .where(WorkItem.user_id.in_(users))
            .order_by(table.synced_at.desc())
            .limit(limit)
        )
    both = made[0].union_all(made[1]).subquery()
    stmt = select(both).order_by(both.c.synced_at.desc()).limit(limit)
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def work_item(item_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> dict[str, Any] | None:
    """One work item of the team with its proposed action, gates and feedback; None when not the team's."""
    found = (
        await session.execute(
            select(WorkItem, ProposedAction)
            .outerjoin(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
            .where(WorkItem.id == item_id, WorkItem.user_id.in_(_team_users(team_id)))
        )
    ).first()
    if found is None:
        return None
    item, action = found
    gates = (await gates_of([item.id], session=session)).get(item.id, [])
    feedback = await session.scalar(select(FeedbackEntry).where(FeedbackEntry.work_item_id == item.id))
    audit = list(
        await session.scalars(
            select(AuditLog)
            .where(AuditLog.target_type == "work_item", AuditLog.target_id == str(item.id))
            .order_by(AuditLog.created_at, AuditLog.id)
            .limit(100)
        )
    )
    return {"item": item, "action": action, "gates": gates, "feedback": feedback, "audit": audit}


async def action_of_team(action_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> ProposedAction | None:
    """The proposed action, when its work item is the team's."""
    return await session.scalar(
        select(ProposedAction)
        .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
        .where(ProposedAction.id == action_id, WorkItem.user_id.in_(_team_users(team_id)))
    )


# -- discussions and jobs ------------------------------------------------------------------

JOB_ORDER = (Job.created_at, Job.id)


async def jobs(
    *,
    session: AsyncSession,
    team_id: str,
    status: str | None = None,
    stage: str | None = None,
    after: Key | None = None,
    limit: int = 25,
) -> list[dict[str, Any]]:
    """The team's jobs, newest first, with their discussion's title."""
    stmt = (
        select(
            Job.id,
            Job.status,
            Job.stage,
            Job.source_type,
            Job.discussion_id,
            Job.workflow_id,
            Job.workflow_run_id,
            Job.error,
            Job.created_at,
            Job.completed_at,
            Discussion.title,
        )
        .outerjoin(Discussion, Discussion.id == Job.discussion_id)
        .where(Job.team_id == team_id)
    )
    if status:
        stmt = stmt.where(Job.status == status)
    if stage:
        stmt = stmt.where(Job.stage == stage)
    return [dict(row._mapping) for row in await session.execute(_page(stmt, JOB_ORDER, after, limit))]


async def job_counts(*, session: AsyncSession, team_id: str) -> dict[str, int]:
    """How many of the team's jobs are in each status."""
    rows = await session.execute(select(Job.status, func.count()).where(Job.team_id == team_id).group_by(Job.status))
    return {status: count for status, count in rows.all()}


async def job(job_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> Job | None:
    return await session.scalar(select(Job).where(Job.id == job_id, Job.team_id == team_id))


async def discussion(discussion_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> dict[str, Any] | None:
    """One discussion of the team with its jobs (newest first) and its tasks."""
    found = await session.scalar(
        select(Discussion).where(Discussion.id == discussion_id, Discussion.team_id == team_id)
    )
    if found is None:
        return None
    its_jobs = list(
        await session.scalars(
            select(Job)
            .where(Job.discussion_id == found.id, Job.team_id == team_id)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(50)
        )
    )
    tasks = list(await session.scalars(select(Task).where(Task.discussion_id == found.id).order_by(Task.task_index)))
    return {"discussion": found, "jobs": its_jobs, "tasks": tasks}


# -- work orders and exports ---------------------------------------------------------------


async def work_orders(*, session: AsyncSession, team_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The team's newest work orders with their export job's state and signed match."""
    stmt = (
        select(
            WorkOrder.id,
            WorkOrder.work_order_number,
            WorkOrder.facility_manager,
            WorkOrder.site,
            WorkOrder.scheduled_date,
            WorkOrder.amount,
            WorkOrder.currency,
            WorkOrder.status,
            WorkOrder.created_at,
            Workspace.slug.label("workspace"),
            ExportJob.id.label("export_job_id"),
            ExportJob.status.label("export_status"),
            ExportJob.attempts.label("export_attempts"),
            ExportJob.last_error.label("export_error"),
            ExportJob.sheet_row,
            SignedMatch.signed_document_id,
        )
        .join(Workspace, Workspace.id == WorkOrder.workspace_id)
        .outerjoin(ExportJob, ExportJob.work_order_id == WorkOrder.id)
        .outerjoin(SignedMatch, SignedMatch.work_order_id == WorkOrder.id)
        .where(Workspace.team_id == team_id)
        .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in await session.execute(stmt)]


EXPORT_ORDER = (ExportJob.updated_at, ExportJob.id)


async def export_jobs(
    *, session: AsyncSession, team_id: str, status: str, after: Key | None = None, limit: int = 25
) -> list[dict[str, Any]]:
    """The team's export jobs in `status`, most recently changed first, with what they export."""
    stmt = (
        select(
            ExportJob.id,
            ExportJob.kind,
            ExportJob.status,
            ExportJob.attempts,
            ExportJob.last_error,
            ExportJob.updated_at,
            ExportJob.completed_at,
            ExportJob.work_order_id,
            WorkOrder.work_order_number,
            SignedDocument.filename.label("signed_filename"),
            Workspace.slug.label("workspace"),
        )
        .join(Workspace, Workspace.id == ExportJob.workspace_id)
        .outerjoin(WorkOrder, WorkOrder.id == ExportJob.work_order_id)
        .outerjoin(SignedDocument, SignedDocument.id == ExportJob.signed_document_id)
        .where(ExportJob.status == status, ExportJob.workspace_id.in_(_team_workspaces(team_id)))
    )
    return [dict(row._mapping) for row in await session.execute(_page(stmt, EXPORT_ORDER, after, limit))]


async def export_job(job_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> ExportJob | None:
    return await session.scalar(
        select(ExportJob).where(ExportJob.id == job_id, ExportJob.workspace_id.in_(_team_workspaces(team_id)))
    )


async def work_order(work_order_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> dict[str, Any] | None:
    """One work order of the team: its workspace, sources, extraction runs, signed match and export job."""
    found = (
        await session.execute(
            select(WorkOrder, Workspace)
            .join(Workspace, Workspace.id == WorkOrder.workspace_id)
            .where(WorkOrder.id == work_order_id, Workspace.team_id == team_id)
        )
    ).first()
    if found is None:
        return None
    order, workspace = found
    sources = list(
        await session.scalars(
            select(WorkOrderSource)
            .where(WorkOrderSource.work_order_id == order.id)
            .order_by(WorkOrderSource.created_at)
        )
    )
    runs = list(
        await session.scalars(
            select(ExtractionRun)
            .where(ExtractionRun.work_order_id == order.id)
            .order_by(ExtractionRun.created_at.desc())
            .limit(50)
        )
    )
    signed = (
        await session.execute(
            select(SignedMatch, SignedDocument)
            .join(SignedDocument, SignedDocument.id == SignedMatch.signed_document_id)
            .where(SignedMatch.work_order_id == order.id)
        )
    ).first()
    export = await session.scalar(select(ExportJob).where(ExportJob.work_order_id == order.id))
    return {
        "order": order,
        "workspace": workspace,
        "sources": sources,
        "runs": runs,
        "match": signed[0] if signed else None,
        "signed": signed[1] if signed else None,
        "export": export,
    }


def key_of(row: dict[str, Any], order: Sequence[Any]) -> Key:
    """The sort key of a listed row (its values of the page's ORDER BY columns)."""
    return tuple(row[column.key] for column in order)


async def live_token(token_id: uuid.UUID, *, session: AsyncSession) -> ApiToken | None:
    """The token with this id, unless it has been revoked (a signed-in page checks it on every request)."""
    return await session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)))
