"""Team-scoped, paginated reads, as pydantic models: the admin API answers with them, the dashboard renders them.

Every function takes the caller's team (`team_id`) and sees only that team's rows: another
team's id is NotFoundError exactly like an unknown one. Lists take `limit` (1-200) and the
`cursor` a previous page returned (`next_cursor`, None on the last page), and refuse a filter
value outside the allowed ones with InvalidInputError naming them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.discussions import DISCUSSION_STATUSES, JOB_STAGES, JOB_STATUSES, SOURCE_TYPES, Discussion, Job, Task
from db.models.signals import WorkflowEvent, WorkflowRun
from db.models.work_orders import EXPORT_STATUSES, WORK_ORDER_STATUSES, ExportJob
from db.repositories import views as q

ItemT = TypeVar("ItemT")

# The filter values each list accepts (the API's OpenAPI enums are these).
DiscussionStatus = Literal["pending", "processing", "completed", "failed"]
JobStatus = Literal["pending", "processing", "completed", "failed"]
JobStage = Literal["ingestion", "thread_building", "ai_analysis", "task_creation", "notification"]
SourceType = Literal["slack", "figma"]
ProcessedStatus = Literal["completed", "dismissed"]
WorkOrderStatus = Literal["OPEN", "SIGNED"]
ExportStatus = Literal["PENDING", "PROCESSING", "DONE", "FAILED"]

DEFAULT_LIMIT = 50
PREVIEW_LIMIT = 20


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (null: this is the last)."""

    items: list[ItemT]
    next_cursor: str | None = None


def one_of(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """`value` when it is one of `allowed` (or None), else InvalidInputError naming the allowed values."""
    if value is not None and value not in allowed:
        raise InvalidInputError(f"{name} {value!r} is not one of: {', '.join(allowed)}")
    return value


def _id(value: str | uuid.UUID, what: str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else parse_uuid(value, what)


# -- discussions and jobs ---------------------------------------------------------------------------


class JobSummary(BaseModel):
    id: uuid.UUID
    team_id: str
    discussion_id: uuid.UUID | None
    source_type: str
    status: str
    stage: str
    error: str | None
    is_retry: bool
    processing_ms: int | None
    workflow_id: str
    workflow_run_id: str
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        processing = job.job_metadata.get("processingTime")
        return cls(
            id=job.id,
            team_id=job.team_id,
            discussion_id=job.discussion_id,
            source_type=job.source_type,
            status=job.status,
            stage=job.stage,
            error=job.error,
            is_retry=bool(job.job_metadata.get("isRetry")),
            processing_ms=processing if isinstance(processing, int) else None,
            workflow_id=job.workflow_id,
            workflow_run_id=job.workflow_run_id,
            created_at=job.created_at,
            completed_at=job.completed_at,
        )


class JobDetail(JobSummary):
    """A job with its failure's stack and its metadata (processing time, task ids, retry details)."""

    error_stack: str | None
    metadata: dict[str, Any]

    @classmethod
    def of(cls, job: Job) -> JobDetail:
        return cls(**JobSummary.of(job).model_dump(), error_stack=job.error_stack, metadata=job.job_metadata)


class TaskView(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID | None
    task_index: int
    title: str
    description: str | None
    priority: str | None
    assignee: str | None
    status: str | None
    notion_page_id: str
    notion_page_url: str | None
    created_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskView:
        return cls.model_validate(task, from_attributes=True)


class DiscussionSummary(BaseModel):
    id: uuid.UUID
    team_id: str
    source_type: str
    source_thread_id: str
    source_url: str | None
    title: str
    author_handle: str | None
    status: str
    sync_job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, discussion: Discussion) -> DiscussionSummary:
        return cls.model_validate(discussion, from_attributes=True)


class DiscussionDetail(DiscussionSummary):
    """A discussion with what the pipeline learned, its job history (newest first) and its tasks."""

    content: str
    ai_summary: str | None
    ai_action_items: list[str] | None
    notion_task_ids: list[str]
    jobs: list[JobSummary]
    tasks: list[TaskView]


class DiscussionPage(Page[DiscussionSummary]):
    pass


class JobPage(Page[JobSummary]):
    pass


async def list_discussions(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    status: str | None = None,
    source_type: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DiscussionPage:
    one_of("status", status, DISCUSSION_STATUSES)
    one_of("source", source_type, SOURCE_TYPES)
    async with sessions() as session:
        page = await q.discussions(
            session=session, team_id=team_id, status=status, source_type=source_type, limit=limit, cursor=cursor
        )
    return DiscussionPage(items=[DiscussionSummary.of(d) for d in page.rows], next_cursor=page.next_cursor)


async def get_discussion(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, discussion_id: str | uuid.UUID
) -> DiscussionDetail:
    id_ = _id(discussion_id, "a discussion id")
    async with sessions() as session:
        found = await q.discussion(session=session, team_id=team_id, discussion_id=id_)
        if found is None:
            raise NotFoundError(f"no discussion {id_}")
        jobs = await q.discussion_jobs(session=session, team_id=team_id, discussion_id=id_)
        tasks = await q.discussion_tasks(session=session, team_id=team_id, discussion_id=id_)
    return DiscussionDetail(
        **DiscussionSummary.of(found).model_dump(),
        content=found.content,
        ai_summary=found.ai_summary,
        ai_action_items=found.ai_action_items,
        notion_task_ids=found.notion_task_ids,
        jobs=[JobSummary.of(j) for j in jobs],
        tasks=[TaskView.of(t) for t in tasks],
    )


async def list_jobs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    status: str | None = None,
    stage: str | None = None,
    source_type: str | None = None,
    discussion_id: str | uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JobPage:
    one_of("status", status, JOB_STATUSES)
    one_of("stage", stage, JOB_STAGES)
    one_of("source", source_type, SOURCE_TYPES)
    discussion = _id(discussion_id, "a discussion id") if discussion_id is not None else None
    async with sessions() as session:
        page = await q.jobs(
            session=session,
            team_id=team_id,
            status=status,
            stage=stage,
            source_type=source_type,
            discussion_id=discussion,
            limit=limit,
            cursor=cursor,
        )
    return JobPage(items=[JobSummary.of(j) for j in page.rows], next_cursor=page.next_cursor)


async def get_job(sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str | uuid.UUID) -> JobDetail:
    id_ = _id(job_id, "a job id")
    async with sessions() as session:
        found = await q.job(session=session, team_id=team_id, job_id=id_)
    if found is None:
        raise NotFoundError(f"no job {id_}")
    return JobDetail.of(found)


async def job_of_run(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, workflow_run_id: str, wait_seconds: float = 0.0
) -> JobSummary | None:
    """The job a discussion run made (its first step writes it), waiting up to `wait_seconds` for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        async with sessions() as session:
            found = await q.job_of_run(session=session, team_id=team_id, workflow_run_id=workflow_run_id)
        if found is not None:
            return JobSummary.of(found)
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.1)


# -- signals and approvals --------------------------------------------------------------------------


class QueueItem(BaseModel):
    """A work item awaiting approval and the action it proposes."""

    work_item_id: uuid.UUID
    action_id: uuid.UUID
    user_id: str
    source: str
    actor: str
    summary: str
    importance_tier: str
    importance_score: int
    action_type: str
    payload: dict[str, Any]
    updated_at: datetime


class DraftItem(BaseModel):
    """A Gmail draft (`gmail_draft`) or Calendar event (`calendar_event`) an approval made."""

    action_id: uuid.UUID
    work_item_id: uuid.UUID
    user_id: str
    summary: str
    action_type: str
    kind: Literal["gmail_draft", "calendar_event"]
    provider_id: str
    html_link: str | None
    synced_at: datetime


class ProcessedItem(BaseModel):
    work_item_id: uuid.UUID
    user_id: str
    summary: str
    status: str
    decided_at: datetime
    action_id: uuid.UUID | None
    action_type: str | None
    action_status: str | None


class GateView(BaseModel):
    gate: str
    passed: bool
    score: int
    reason: str


class ActionView(BaseModel):
    id: uuid.UUID
    action_type: str
    status: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    executed_at: datetime | None


class FeedbackView(BaseModel):
    rating: str
    note: str | None
    updated_at: datetime


class WorkItemDetail(BaseModel):
    id: uuid.UUID
    user_id: str
    source: str
    source_id: str
    thread_id: str | None
    actor: str
    summary: str
    context: str
    preview: str
    intent: str
    status: str
    importance_tier: str
    importance_score: int
    occurred_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    gates: list[GateView]
    action: ActionView | None
    feedback: FeedbackView | None


class TimelineEvent(BaseModel):
    kind: str
    payload: dict[str, Any]
    at: datetime


class TimelineRun(BaseModel):
    run_id: uuid.UUID
    phase: str
    status: str
    workflow_id: str | None
    workflow_run_id: str | None
    at: datetime
    events: list[TimelineEvent]

    @classmethod
    def of(cls, run: WorkflowRun, events: list[WorkflowEvent]) -> TimelineRun:
        return cls(
            run_id=run.id,
            phase=run.phase,
            status=run.status,
            workflow_id=run.workflow_id,
            workflow_run_id=run.workflow_run_id,
            at=run.created_at,
            events=[TimelineEvent(kind=e.kind, payload=e.payload, at=e.created_at) for e in events],
        )


class AuditEntry(BaseModel):
    id: int
    at: datetime
    user_id: str | None
    action: str
    target_type: str
    target_id: str
    payload: dict[str, Any]


class AuditCount(BaseModel):
    target_type: str
    action: str
    count: int


class QueuePage(Page[QueueItem]):
    pass


class DraftPage(Page[DraftItem]):
    pass


class ProcessedPage(Page[ProcessedItem]):
    pass


class TimelinePage(Page[TimelineRun]):
    """A work item's runs, oldest first."""

    work_item_id: uuid.UUID


class AuditPage(Page[AuditEntry]):
    """Audit entries, newest first, and how many entries per target type and action the filter finds."""

    counts: list[AuditCount]


async def approval_queue(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    user_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> QueuePage:
    async with sessions() as session:
        page = await q.approval_queue(session=session, team_id=team_id, user_id=user_id, limit=limit, cursor=cursor)
    items = [
        QueueItem(
            work_item_id=r.item.id,
            action_id=r.action.id,
            user_id=r.item.user_id,
            source=r.item.source,
            actor=r.item.actor,
            summary=r.item.summary,
            importance_tier=r.item.importance_tier,
            importance_score=r.item.importance_score,
            action_type=r.action.action_type,
            payload=r.action.payload,
            updated_at=r.item.updated_at,
        )
        for r in page.rows
    ]
    return QueuePage(items=items, next_cursor=page.next_cursor)


async def drafts(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    user_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DraftPage:
    async with sessions() as session:
        page = await q.drafts(session=session, team_id=team_id, user_id=user_id, limit=limit, cursor=cursor)
    return DraftPage(items=[DraftItem.model_validate(r) for r in page.rows], next_cursor=page.next_cursor)


async def processed(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ProcessedPage:
    one_of("status", status, ("completed", "dismissed"))
    async with sessions() as session:
        page = await q.processed(
            session=session, team_id=team_id, user_id=user_id, status=status, limit=limit, cursor=cursor
        )
    items = [
        ProcessedItem(
            work_item_id=r.item.id,
            user_id=r.item.user_id,
            summary=r.item.summary,
            status=r.item.status,
            decided_at=r.decided_at,
            action_id=r.action.id if r.action else None,
            action_type=r.action.action_type if r.action else None,
            action_status=r.action.status if r.action else None,
        )
        for r in page.rows
    ]
    return ProcessedPage(items=items, next_cursor=page.next_cursor)


async def get_work_item(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_item_id: str | uuid.UUID
) -> WorkItemDetail:
    id_ = _id(work_item_id, "a work item id")
    async with sessions() as session:
        found = await q.work_item(session=session, team_id=team_id, work_item_id=id_)
    if found is None:
        raise NotFoundError(f"no work item {id_}")
    item = found.item
    return WorkItemDetail(
        id=item.id,
        user_id=item.user_id,
        source=item.source,
        source_id=item.source_id,
        thread_id=item.thread_id,
        actor=item.actor,
        summary=item.summary,
        context=item.context,
        preview=item.preview,
        intent=item.intent,
        status=item.status,
        importance_tier=item.importance_tier,
        importance_score=item.importance_score,
        occurred_at=item.occurred_at,
        completed_at=item.completed_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
        gates=[GateView(gate=g.gate, passed=g.passed, score=g.score, reason=g.reason) for g in found.gates],
        action=ActionView.model_validate(found.action, from_attributes=True) if found.action else None,
        feedback=FeedbackView.model_validate(found.feedback, from_attributes=True) if found.feedback else None,
    )


async def require_action(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, action_id: str | uuid.UUID
) -> uuid.UUID:
    """The id of a proposed action of the team's work items; NotFoundError for any other id."""
    id_ = _id(action_id, "an action id")
    async with sessions() as session:
        found = await q.action_of_team(session=session, team_id=team_id, action_id=id_)
    if found is None:
        raise NotFoundError(f"no proposed action {id_}")
    return id_


async def timeline(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    work_item_id: str | uuid.UUID,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> TimelinePage:
    """A work item's run timeline: each run (ingest, approve, ...) oldest first, with its events."""
    id_ = _id(work_item_id, "a work item id")
    async with sessions() as session:
        if await q.work_item(session=session, team_id=team_id, work_item_id=id_) is None:
            raise NotFoundError(f"no work item {id_}")
        page = await q.timeline(session=session, work_item_id=id_, limit=limit, cursor=cursor)
    return TimelinePage(
        work_item_id=id_, items=[TimelineRun.of(run, events) for run, events in page.rows], next_cursor=page.next_cursor
    )


async def audit_log(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AuditPage:
    """The audit log of the team's users, of one target with `target_type`/`target_id`, with counts."""
    filters = {"target_type": target_type, "target_id": target_id, "action": action}
    async with sessions() as session:
        page = await q.audit_log(session=session, team_id=team_id, limit=limit, cursor=cursor, **filters)
        counts = await q.audit_counts(session=session, team_id=team_id, **filters)
    return AuditPage(
        items=[
            AuditEntry(
                id=e.id,
                at=e.created_at,
                user_id=e.user_id,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                payload=e.payload,
            )
            for e in page.rows
        ],
        next_cursor=page.next_cursor,
        counts=[AuditCount(target_type=t, action=a, count=n) for t, a, n in counts],
    )


# -- work orders and exports ------------------------------------------------------------------------


class ExportState(BaseModel):
    """Where a work order's export to Sheets stands."""

    job_id: uuid.UUID
    status: str
    attempts: int
    last_error: str | None
    sheet_row: int | None


class WorkOrderSummary(BaseModel):
    id: uuid.UUID
    workspace: str
    work_order_number: str
    facility_manager: str | None
    site: str | None
    scheduled_date: date | None
    # A decimal number as text ("1250.00"), exact as stored.
    amount: str | None
    currency: str
    status: str
    signed_document_id: uuid.UUID | None
    export: ExportState | None
    created_at: datetime

    @classmethod
    def of(cls, row: q.WorkOrderRow) -> WorkOrderSummary:
        wo, job = row.work_order, row.export_job
        return cls(
            id=wo.id,
            workspace=row.workspace_slug,
            work_order_number=wo.work_order_number,
            facility_manager=wo.facility_manager,
            site=wo.site,
            scheduled_date=wo.scheduled_date,
            amount=str(wo.amount) if wo.amount is not None else None,
            currency=wo.currency,
            status=wo.status,
            signed_document_id=row.signed_document_id,
            export=ExportState(
                job_id=job.id,
                status=job.status,
                attempts=job.attempts,
                last_error=job.last_error,
                sheet_row=job.sheet_row,
            )
            if job is not None
            else None,
            created_at=wo.created_at,
        )


class SourceView(BaseModel):
    id: uuid.UUID
    source_type: str
    filename: str
    file_hash: str
    source_metadata: dict[str, Any]
    created_at: datetime


class ExtractionRunView(BaseModel):
    id: uuid.UUID
    kind: str
    filename: str
    file_hash: str
    fm_key: str | None
    outcome: str
    error: str | None
    fields: dict[str, Any]
    warnings: list[dict[str, str]]
    duration_ms: int
    created_at: datetime


class SignedMatchView(BaseModel):
    signed_document_id: uuid.UUID
    matched_at: datetime
    filename: str
    signed_by: str | None
    signed_on: date | None
    match_status: str


class WorkOrderDetail(WorkOrderSummary):
    """A work order with its source PDFs, its extraction runs and its signed document, if matched."""

    fm_key: str | None
    description: str | None
    signed_at: datetime | None
    sources: list[SourceView]
    extraction_runs: list[ExtractionRunView]
    signed_match: SignedMatchView | None


class ExportJobView(BaseModel):
    id: uuid.UUID
    workspace: str
    kind: str
    work_order_id: uuid.UUID | None
    signed_document_id: uuid.UUID | None
    status: str
    attempts: int
    last_error: str | None
    sheet_row: int | None
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    completed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, job: ExportJob, workspace: str) -> ExportJobView:
        return cls(
            id=job.id,
            workspace=workspace,
            kind=job.kind,
            work_order_id=job.work_order_id,
            signed_document_id=job.signed_document_id,
            status=job.status,
            attempts=job.attempts,
            last_error=job.last_error,
            sheet_row=job.sheet_row,
            next_attempt_at=job.next_attempt_at,
            last_attempt_at=job.last_attempt_at,
            completed_at=job.completed_at,
            created_at=job.created_at,
        )


class ExportStatusView(BaseModel):
    """The team's export jobs per status, whether a quota pause holds them, and the latest FAILED ones."""

    counts: dict[str, int]
    held_until: datetime | None
    failed: list[ExportJobView]


class WorkOrderPage(Page[WorkOrderSummary]):
    pass


class ExportJobPage(Page[ExportJobView]):
    pass


async def list_work_orders(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    workspace: str | None = None,
    status: str | None = None,
    export_status: str | None = None,
    limit: int = PREVIEW_LIMIT,
    cursor: str | None = None,
) -> WorkOrderPage:
    """The team's work orders, newest first, with their export status: the first page is the preview."""
    one_of("status", status, WORK_ORDER_STATUSES)
    one_of("export_status", export_status, EXPORT_STATUSES)
    async with sessions() as session:
        page = await q.work_orders(
            session=session,
            team_id=team_id,
            workspace_slug=workspace,
            status=status,
            export_status=export_status,
            limit=limit,
            cursor=cursor,
        )
    return WorkOrderPage(items=[WorkOrderSummary.of(r) for r in page.rows], next_cursor=page.next_cursor)


async def get_work_order(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, work_order_id: str | uuid.UUID
) -> WorkOrderDetail:
    id_ = _id(work_order_id, "a work order id")
    async with sessions() as session:
        found = await q.work_order(session=session, team_id=team_id, work_order_id=id_)
    if found is None:
        raise NotFoundError(f"no work order {id_}")
    wo = found.row.work_order
    signed = None
    if found.signed is not None:
        match, document = found.signed
        signed = SignedMatchView(
            signed_document_id=document.id,
            matched_at=match.matched_at,
            filename=document.filename,
            signed_by=document.signed_by,
            signed_on=document.signed_on,
            match_status=document.match_status,
        )
    return WorkOrderDetail(
        **WorkOrderSummary.of(found.row).model_dump(),
        fm_key=wo.fm_key,
        description=wo.description,
        signed_at=wo.signed_at,
        sources=[SourceView.model_validate(s, from_attributes=True) for s in found.sources],
        extraction_runs=[ExtractionRunView.model_validate(r, from_attributes=True) for r in found.extraction_runs],
        signed_match=signed,
    )


async def list_export_jobs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ExportJobPage:
    one_of("status", status, EXPORT_STATUSES)
    async with sessions() as session:
        page = await q.export_jobs(session=session, team_id=team_id, status=status, limit=limit, cursor=cursor)
    return ExportJobPage(
        items=[ExportJobView.of(r.job, r.workspace_slug) for r in page.rows], next_cursor=page.next_cursor
    )


async def get_export_job(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, job_id: str | uuid.UUID
) -> ExportJobView:
    id_ = _id(job_id, "an export job id")
    async with sessions() as session:
        found = await q.export_job(session=session, team_id=team_id, job_id=id_)
    if found is None:
        raise NotFoundError(f"no export job {id_}")
    return ExportJobView.of(found.job, found.workspace_slug)


async def export_status(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, failed_limit: int = PREVIEW_LIMIT
) -> ExportStatusView:
    async with sessions() as session:
        counts = await q.export_counts(session=session, team_id=team_id)
        held = await q.export_held_until(session=session, team_id=team_id)
        failed = await q.export_jobs(session=session, team_id=team_id, status="FAILED", limit=failed_limit)
    return ExportStatusView(
        counts={status: counts.get(status, 0) for status in EXPORT_STATUSES},
        held_until=held,
        failed=[ExportJobView.of(r.job, r.workspace_slug) for r in failed.rows],
    )
