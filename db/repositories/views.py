"""Team-scoped reads for the admin API and the dashboard: every query names the team, in SQL.

A team owns its discussions, jobs and tasks (`team_id`), the work items of its signal users
(`signal_users.team_id`) with their actions, run log and audit log, and the work orders and
export jobs of its workspaces (`workspaces.team_id`). A row of another team is simply not
found, exactly like an id nobody has. Lists are keyset-paginated (`db.pagination`), newest
first, behind indexes on their order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.discussions import Discussion, Job, Task
from db.models.signals import (
    AuditLog,
    CalendarEventRecord,
    FeedbackEntry,
    GateEvaluation,
    GmailDraft,
    ProposedAction,
    SignalUser,
    WorkflowEvent,
    WorkflowRun,
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
from db.pagination import Keyset, Page, page_of

DT, ID = datetime, uuid.UUID


def _where(*conditions: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [c for c in conditions if c is not None]


def _team_users(team_id: str) -> Select[Any]:
    return select(SignalUser.user_id).where(SignalUser.team_id == team_id)


def _team_workspaces(team_id: str) -> Select[Any]:
    return select(Workspace.id).where(Workspace.team_id == team_id)


# -- discussions and jobs ---------------------------------------------------------------------------

DISCUSSIONS = Keyset([Discussion.created_at, Discussion.id], [DT, ID])
JOBS = Keyset([Job.created_at, Job.id], [DT, ID])


async def discussions(
    *,
    session: AsyncSession,
    team_id: str,
    status: str | None = None,
    source_type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Discussion]:
    stmt = select(Discussion).where(
        *_where(
            Discussion.team_id == team_id,
            Discussion.status == status if status else None,
            Discussion.source_type == source_type if source_type else None,
        )
    )
    rows = list((await session.scalars(DISCUSSIONS.apply(stmt, cursor, limit))).all())
    return page_of(rows, limit, lambda d: (d.created_at, d.id))


async def discussion(*, session: AsyncSession, team_id: str, discussion_id: uuid.UUID) -> Discussion | None:
    stmt = select(Discussion).where(Discussion.id == discussion_id, Discussion.team_id == team_id)
    return (await session.scalars(stmt)).first()


async def discussion_jobs(*, session: AsyncSession, team_id: str, discussion_id: uuid.UUID) -> list[Job]:
    """Every job of a discussion (its first run and each retry), newest first."""
    stmt = (
        select(Job)
        .where(Job.team_id == team_id, Job.discussion_id == discussion_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
    )
    return list((await session.scalars(stmt)).all())


async def discussion_tasks(*, session: AsyncSession, team_id: str, discussion_id: uuid.UUID) -> list[Task]:
    stmt = select(Task).where(Task.team_id == team_id, Task.discussion_id == discussion_id).order_by(Task.task_index)
    return list((await session.scalars(stmt)).all())


async def jobs(
    *,
    session: AsyncSession,
    team_id: str,
    status: str | None = None,
    stage: str | None = None,
    source_type: str | None = None,
    discussion_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Job]:
    stmt = select(Job).where(
        *_where(
            Job.team_id == team_id,
            Job.status == status if status else None,
            Job.stage == stage if stage else None,
            Job.source_type == source_type if source_type else None,
            Job.discussion_id == discussion_id if discussion_id else None,
        )
    )
    rows = list((await session.scalars(JOBS.apply(stmt, cursor, limit))).all())
    return page_of(rows, limit, lambda j: (j.created_at, j.id))


async def job(*, session: AsyncSession, team_id: str, job_id: uuid.UUID) -> Job | None:
    return (await session.scalars(select(Job).where(Job.id == job_id, Job.team_id == team_id))).first()


async def job_of_run(*, session: AsyncSession, team_id: str, workflow_run_id: str) -> Job | None:
    stmt = select(Job).where(Job.workflow_run_id == workflow_run_id, Job.team_id == team_id)
    return (await session.scalars(stmt)).first()


# -- signals and approvals --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    item: WorkItem
    action: ProposedAction


QUEUE = Keyset([WorkItem.importance_score, WorkItem.updated_at, WorkItem.id], [int, DT, ID])


async def approval_queue(
    *, session: AsyncSession, team_id: str, user_id: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[QueueRow]:
    """Work items awaiting approval with their pending action, most important first."""
    stmt = (
        select(WorkItem, ProposedAction)
        .join(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(
            *_where(
                WorkItem.user_id.in_(_team_users(team_id)),
                WorkItem.status == "awaiting_approval",
                ProposedAction.status == "pending",
                WorkItem.user_id == user_id if user_id else None,
            )
        )
    )
    rows = [QueueRow(item, action) for item, action in (await session.execute(QUEUE.apply(stmt, cursor, limit))).all()]
    return page_of(rows, limit, lambda r: (r.item.importance_score, r.item.updated_at, r.item.id))


async def drafts(
    *, session: AsyncSession, team_id: str, user_id: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[dict[str, Any]]:
    """Gmail drafts and Calendar events the team's approvals made, newest first.

    Read kind by kind, each in its index's order (synced_at, action_id) and stopped after one
    page, then merged: a page reads at most two pages of rows, however many the team has."""
    branches = []
    for table, kind, provider_id, link in (
        (GmailDraft, "gmail_draft", GmailDraft.provider_draft_id, cast(null(), Text)),
        (CalendarEventRecord, "calendar_event", CalendarEventRecord.provider_event_id, CalendarEventRecord.html_link),
    ):
        branch = (
            select(
                table.action_id.label("action_id"),
                WorkItem.id.label("work_item_id"),
                WorkItem.user_id.label("user_id"),
                WorkItem.summary.label("summary"),
                ProposedAction.action_type.label("action_type"),
                literal(kind).label("kind"),
                provider_id.label("provider_id"),
                link.label("html_link"),
                table.synced_at.label("synced_at"),
            )
            .join(ProposedAction, ProposedAction.id == table.action_id)
            .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
            .where(
                *_where(WorkItem.user_id.in_(_team_users(team_id)), WorkItem.user_id == user_id if user_id else None)
            )
        )
        branches.append(Keyset([table.synced_at, table.action_id], [DT, ID]).apply(branch, cursor, limit))
    made = union_all(*(branch.subquery().select() for branch in branches)).subquery("made")
    stmt = Keyset([made.c.synced_at, made.c.action_id], [DT, ID]).apply(select(made), None, limit)
    rows = [dict(row._mapping) for row in await session.execute(stmt)]
    return page_of(rows, limit, lambda r: (r["synced_at"], r["action_id"]))


@dataclass(frozen=True)
class ProcessedRow:
    item: WorkItem
    action: ProposedAction | None
    decided_at: datetime


DECIDED_AT = func.coalesce(WorkItem.completed_at, WorkItem.updated_at)
PROCESSED = Keyset([DECIDED_AT, WorkItem.id], [DT, ID])


async def processed(
    *,
    session: AsyncSession,
    team_id: str,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[ProcessedRow]:
    """Work items decided (completed or dismissed), most recently decided first."""
    stmt = (
        select(WorkItem, ProposedAction, DECIDED_AT.label("decided_at"))
        .outerjoin(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(
            *_where(
                WorkItem.user_id.in_(_team_users(team_id)),
                WorkItem.status == status if status else WorkItem.status.in_(("completed", "dismissed")),
                WorkItem.user_id == user_id if user_id else None,
            )
        )
    )
    result = await session.execute(PROCESSED.apply(stmt, cursor, limit))
    rows = [ProcessedRow(item, action, decided) for item, action, decided in result.all()]
    return page_of(rows, limit, lambda r: (r.decided_at, r.item.id))


@dataclass(frozen=True)
class WorkItemRow:
    item: WorkItem
    gates: list[GateEvaluation]
    action: ProposedAction | None
    feedback: FeedbackEntry | None


async def work_item(*, session: AsyncSession, team_id: str, work_item_id: uuid.UUID) -> WorkItemRow | None:
    stmt = select(WorkItem).where(WorkItem.id == work_item_id, WorkItem.user_id.in_(_team_users(team_id)))
    item = (await session.scalars(stmt)).first()
    if item is None:
        return None
    gates = await session.scalars(
        select(GateEvaluation).where(GateEvaluation.work_item_id == item.id).order_by(GateEvaluation.id)
    )
    action = await session.scalars(select(ProposedAction).where(ProposedAction.work_item_id == item.id))
    feedback = await session.scalars(select(FeedbackEntry).where(FeedbackEntry.work_item_id == item.id))
    return WorkItemRow(item, list(gates.all()), action.first(), feedback.first())


async def action_of_team(*, session: AsyncSession, team_id: str, action_id: uuid.UUID) -> ProposedAction | None:
    stmt = (
        select(ProposedAction)
        .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
        .where(ProposedAction.id == action_id, WorkItem.user_id.in_(_team_users(team_id)))
    )
    return (await session.scalars(stmt)).first()


TIMELINE = Keyset([WorkflowRun.created_at, WorkflowRun.id], [DT, ID], descending=False)


async def timeline(
    *, session: AsyncSession, work_item_id: uuid.UUID, limit: int = 50, cursor: str | None = None
) -> Page[tuple[WorkflowRun, list[WorkflowEvent]]]:
    """A work item's runs, oldest first, each with its events in order (the caller checked the team)."""
    stmt = select(WorkflowRun).where(WorkflowRun.work_item_id == work_item_id)
    runs = list((await session.scalars(TIMELINE.apply(stmt, cursor, limit))).all())
    page = page_of(runs, limit, lambda r: (r.created_at, r.id))
    events: dict[uuid.UUID, list[WorkflowEvent]] = {}
    if page.rows:
        found = await session.scalars(
            select(WorkflowEvent)
            .where(WorkflowEvent.run_id.in_([run.id for run in page.rows]))
            .order_by(WorkflowEvent.id)
        )
        for event in found:
            events.setdefault(event.run_id, []).append(event)
    return Page([(run, events.get(run.id, [])) for run in page.rows], page.next_cursor)


AUDIT = Keyset([AuditLog.id], [int])


def _audit_where(
    team_id: str, target_type: str | None, target_id: str | None, action: str | None
) -> list[ColumnElement[bool]]:
    return _where(
        AuditLog.user_id.in_(_team_users(team_id)),
        AuditLog.target_type == target_type if target_type else None,
        AuditLog.target_id == target_id if target_id else None,
        AuditLog.action == action if action else None,
    )


async def audit_log(
    *,
    session: AsyncSession,
    team_id: str,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AuditLog]:
    """The audit entries of the team's users (of one target with `target_*`), newest first."""
    stmt = select(AuditLog).where(*_audit_where(team_id, target_type, target_id, action))
    rows = list((await session.scalars(AUDIT.apply(stmt, cursor, limit))).all())
    return page_of(rows, limit, lambda e: (e.id,))


async def audit_counts(
    *,
    session: AsyncSession,
    team_id: str,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
) -> list[tuple[str, str, int]]:
    """How many entries per (target type, action) the same filter finds."""
    stmt = (
        select(AuditLog.target_type, AuditLog.action, func.count())
        .where(*_audit_where(team_id, target_type, target_id, action))
        .group_by(AuditLog.target_type, AuditLog.action)
        .order_by(AuditLog.target_type, AuditLog.action)
    )
    return [(t, a, int(n)) for t, a, n in (await session.execute(stmt)).all()]


# -- work orders and exports ------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkOrderRow:
    work_order: WorkOrder
    workspace_slug: str
    export_job: ExportJob | None
    signed_document_id: uuid.UUID | None


WORK_ORDERS = Keyset([WorkOrder.created_at, WorkOrder.id], [DT, ID])


def _work_order_select() -> Select[WorkOrder, str, ExportJob, uuid.UUID]:
    return (
        select(WorkOrder, Workspace.slug, ExportJob, SignedMatch.signed_document_id)
        .join(Workspace, Workspace.id == WorkOrder.workspace_id)
        .outerjoin(ExportJob, ExportJob.work_order_id == WorkOrder.id)
        .outerjoin(SignedMatch, SignedMatch.work_order_id == WorkOrder.id)
    )


async def work_orders(
    *,
    session: AsyncSession,
    team_id: str,
    workspace_slug: str | None = None,
    status: str | None = None,
    export_status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[WorkOrderRow]:
    """The team's work orders, newest first, with their export job's state and signed document."""
    stmt = _work_order_select().where(
        *_where(
            Workspace.team_id == team_id,
            Workspace.slug == workspace_slug if workspace_slug else None,
            WorkOrder.status == status if status else None,
            ExportJob.status == export_status if export_status else None,
        )
    )
    result = await session.execute(WORK_ORDERS.apply(stmt, cursor, limit))
    rows = [WorkOrderRow(wo, slug, job, signed) for wo, slug, job, signed in result.all()]
    return page_of(rows, limit, lambda r: (r.work_order.created_at, r.work_order.id))


@dataclass(frozen=True)
class WorkOrderDetailRow:
    row: WorkOrderRow
    sources: list[WorkOrderSource]
    extraction_runs: list[ExtractionRun]
    signed: tuple[SignedMatch, SignedDocument] | None


async def work_order(*, session: AsyncSession, team_id: str, work_order_id: uuid.UUID) -> WorkOrderDetailRow | None:
    stmt = _work_order_select().where(WorkOrder.id == work_order_id, Workspace.team_id == team_id)
    found = (await session.execute(stmt)).first()
    if found is None:
        return None
    row = WorkOrderRow(found[0], found[1], found[2], found[3])
    sources = await session.scalars(
        select(WorkOrderSource)
        .where(WorkOrderSource.work_order_id == work_order_id)
        .order_by(WorkOrderSource.created_at, WorkOrderSource.id)
    )
    runs = await session.scalars(
        select(ExtractionRun)
        .where(ExtractionRun.work_order_id == work_order_id)
        .order_by(ExtractionRun.created_at, ExtractionRun.id)
    )
    signed = (
        await session.execute(
            select(SignedMatch, SignedDocument)
            .join(SignedDocument, SignedDocument.id == SignedMatch.signed_document_id)
            .where(SignedMatch.work_order_id == work_order_id)
        )
    ).first()
    return WorkOrderDetailRow(
        row, list(sources.all()), list(runs.all()), (signed[0], signed[1]) if signed is not None else None
    )


@dataclass(frozen=True)
class ExportJobRow:
    job: ExportJob
    workspace_slug: str


EXPORT_JOBS = Keyset([ExportJob.created_at, ExportJob.id], [DT, ID])


async def export_jobs(
    *, session: AsyncSession, team_id: str, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[ExportJobRow]:
    stmt = (
        select(ExportJob, Workspace.slug)
        .join(Workspace, Workspace.id == ExportJob.workspace_id)
        .where(*_where(Workspace.team_id == team_id, ExportJob.status == status if status else None))
    )
    result = await session.execute(EXPORT_JOBS.apply(stmt, cursor, limit))
    rows = [ExportJobRow(job, slug) for job, slug in result.all()]
    return page_of(rows, limit, lambda r: (r.job.created_at, r.job.id))


async def export_job(*, session: AsyncSession, team_id: str, job_id: uuid.UUID) -> ExportJobRow | None:
    stmt = (
        select(ExportJob, Workspace.slug)
        .join(Workspace, Workspace.id == ExportJob.workspace_id)
        .where(ExportJob.id == job_id, Workspace.team_id == team_id)
    )
    found = (await session.execute(stmt)).first()
    return ExportJobRow(found[0], found[1]) if found is not None else None


async def export_counts(*, session: AsyncSession, team_id: str) -> dict[str, int]:
    stmt = (
        select(ExportJob.status, func.count())
        .where(ExportJob.workspace_id.in_(_team_workspaces(team_id)))
        .group_by(ExportJob.status)
    )
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}


async def export_held_until(*, session: AsyncSession, team_id: str) -> datetime | None:
    """When the team's latest-held waiting job becomes due, if that is in the future (a quota pause)."""
    latest, now = (
        await session.execute(
            select(func.max(ExportJob.next_attempt_at), func.now()).where(
                ExportJob.status == "PENDING", ExportJob.workspace_id.in_(_team_workspaces(team_id))
            )
        )
    ).one()
    return latest if latest is not None and latest > now else None
