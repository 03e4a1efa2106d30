"""The few reads the dashboard needs beyond db/repositories/views.py (which the admin API shares).

Each is team-scoped like those: a count of the team's approval queue, the team's jobs per
status, the gate evaluations of the queue rows on a page, the workflow that read each of a
work order's PDFs (for its Temporal UI link), a live token by id (a signed-in page checks
that its token was not revoked), and the team's mirrored runs (`executions.team_id`) and
batch imports (a batch's workspace's `team_id`), paged in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.api import ApiToken
from db.models.batches import Batch
from db.models.discussions import Job
from db.models.mirror import Execution
from db.models.signals import GateEvaluation, SignalUser, WorkItem
from db.models.work_orders import ExtractionRun, Workspace
from db.pagination import Keyset, Page, page_of

QUEUE_COUNT_CAP = 1000


async def queue_count(*, session: AsyncSession, team_id: str, cap: int = QUEUE_COUNT_CAP) -> int:
    """How many of the team's work items await approval, counting no further than `cap` (a page
    shows "1000+": counting a queue of 20,000 on every refresh would cost more than the page)."""
    awaiting = (
        select(WorkItem.id)
        .where(
            WorkItem.status == "awaiting_approval",
            WorkItem.user_id.in_(select(SignalUser.user_id).where(SignalUser.team_id == team_id)),
        )
        .limit(cap)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(awaiting)) or 0)


async def job_counts(*, session: AsyncSession, team_id: str) -> dict[str, int]:
    """How many of the team's jobs are in each status."""
    rows = await session.execute(select(Job.status, func.count()).where(Job.team_id == team_id).group_by(Job.status))
    return {status: count for status, count in rows.all()}


async def gates_of(
    work_item_ids: Sequence[uuid.UUID], *, session: AsyncSession
) -> dict[uuid.UUID, list[GateEvaluation]]:
    """The gate evaluations of these work items (the caller's own rows), by item, in gate order."""
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


async def extraction_workflows(
    extraction_run_ids: Sequence[uuid.UUID], *, session: AsyncSession
) -> dict[uuid.UUID, str | None]:
    """The workflow id that made each of these extraction runs."""
    if not extraction_run_ids:
        return {}
    rows = await session.execute(
        select(ExtractionRun.id, ExtractionRun.workflow_id).where(ExtractionRun.id.in_(extraction_run_ids))
    )
    return {run_id: workflow_id for run_id, workflow_id in rows.all()}


async def live_token(token_id: uuid.UUID, *, session: AsyncSession) -> ApiToken | None:
    """The token with this id, unless it has been revoked."""
    return await session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)))


# -- the engine mirror's runs ----------------------------------------------------------------

RUNS = Keyset([Execution.start_time, Execution.workflow_id, Execution.run_id], [datetime, str, str])


async def team_executions(
    *,
    session: AsyncSession,
    team_id: str,
    workflow_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 25,
    cursor: str | None = None,
) -> Page[Execution]:
    """The team's mirrored runs, newest first (through ix_executions_team_id_start_time), by type,
    status and start time (since inclusive, until exclusive)."""
    stmt = select(Execution).where(Execution.team_id == team_id)
    if workflow_type:
        stmt = stmt.where(Execution.workflow_type == workflow_type)
    if status:
        stmt = stmt.where(Execution.status == status)
    if since is not None:
        stmt = stmt.where(Execution.start_time >= since)
    if until is not None:
        stmt = stmt.where(Execution.start_time < until)
    rows = list((await session.scalars(RUNS.apply(stmt, cursor, limit))).all())
    return page_of(rows, limit, lambda e: (e.start_time, e.workflow_id, e.run_id))


async def team_execution(workflow_id: str, run_id: str, *, session: AsyncSession, team_id: str) -> Execution | None:
    """One mirrored run, if it is the team's."""
    return await session.scalar(
        select(Execution).where(
            Execution.workflow_id == workflow_id, Execution.run_id == run_id, Execution.team_id == team_id
        )
    )


async def team_workflow_types(*, session: AsyncSession, team_id: str, limit: int = 50) -> list[str]:
    """The workflow types among the team's last 500 runs (the Runs page's type filter offers these)."""
    recent = (
        select(Execution.workflow_type)
        .where(Execution.team_id == team_id)
        .order_by(Execution.start_time.desc())
        .limit(500)
        .subquery()
    )
    rows = await session.scalars(
        select(recent.c.workflow_type).distinct().order_by(recent.c.workflow_type).limit(limit)
    )
    return list(rows.all())


# -- batch imports ---------------------------------------------------------------------------

BATCHES = Keyset([Batch.created_at, Batch.id], [datetime, uuid.UUID])


async def team_batches(
    *, session: AsyncSession, team_id: str, limit: int = 25, cursor: str | None = None
) -> Page[tuple[Batch, str]]:
    """The batches of the team's workspaces, newest first, each with its workspace's slug."""
    stmt = (
        select(Batch, Workspace.slug)
        .join(Workspace, Workspace.id == Batch.workspace_id)
        .where(Workspace.team_id == team_id)
    )
    rows = [(batch, slug) for batch, slug in (await session.execute(BATCHES.apply(stmt, cursor, limit))).all()]
    return page_of(rows, limit, lambda r: (r[0].created_at, r[0].id))


async def team_batch(batch_id: uuid.UUID, *, session: AsyncSession, team_id: str) -> tuple[Batch, str] | None:
    """One batch with its workspace's slug, if its workspace is the team's."""
    row = (
        await session.execute(
            select(Batch, Workspace.slug)
            .join(Workspace, Workspace.id == Batch.workspace_id)
            .where(Batch.id == batch_id, Workspace.team_id == team_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None
