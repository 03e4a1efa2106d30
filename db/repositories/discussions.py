"""Queries of the discussion pipeline (seed 001). Every read and write is team-scoped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import cast, func, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import SYSTEM_USER_ID
from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.repository import Repository

FINISHED_JOB_STATUSES = ("completed", "failed")


class SourceConfigRepository(Repository[SourceConfig]):
    def __init__(self) -> None:
        super().__init__(SourceConfig)

    async def find_enabled(self, team_id: str, source_type: str, *, session: AsyncSession) -> SourceConfig | None:
        return await self.find_one(session=session, team_id=team_id, source_type=source_type, enabled=True)

    async def ensure(self, *, session: AsyncSession, team_id: str, source_type: str, **values: Any) -> int:
        """Insert the team's config for a source unless a live one exists; 1 when inserted, else 0."""
        stmt = (
            insert(SourceConfig)
            .values(team_id=team_id, source_type=source_type, **values)
            .on_conflict_do_nothing(
                index_elements=[SourceConfig.team_id, SourceConfig.source_type],
                index_where=SourceConfig.deleted_at.is_(None),
            )
            .returning(SourceConfig.id)
        )
        return int((await session.scalar(stmt)) is not None)


class DiscussionRepository(Repository[Discussion]):
    def __init__(self) -> None:
        super().__init__(Discussion)

    async def save_for_job(
        self, *, session: AsyncSession, job_id: uuid.UUID, source_config_id: uuid.UUID, **fields: Any
    ) -> Discussion:
        """Insert the thread's discussion, or take over the existing one, as `processing` under `job_id`."""
        taking_over = {
            "status": "processing",
            "sync_job_id": job_id,
            "source_config_id": source_config_id,
            "error": None,
            "completed_at": None,
            "updated_by": SYSTEM_USER_ID,
            "updated_at": func.now(),
        }
        stmt = (
            insert(Discussion)
            .values(**fields, **taking_over, created_by=SYSTEM_USER_ID)
            .on_conflict_do_update(
                index_elements=[Discussion.team_id, Discussion.source_type, Discussion.source_thread_id],
                set_=taking_over,
            )
            .returning(Discussion)
        )
        return (await session.scalars(stmt, execution_options={"populate_existing": True})).one()

    async def for_team(self, team_id: str, discussion_id: uuid.UUID, *, session: AsyncSession) -> Discussion | None:
        return await self.find_one(Discussion.id == discussion_id, session=session, team_id=team_id)

    async def set_tasks(self, discussion_id: uuid.UUID, task_ids: list[str], *, session: AsyncSession) -> None:
        await self.update_by_id(discussion_id, session=session, notion_task_ids=task_ids,
                                updated_by=SYSTEM_USER_ID)


class JobRepository(Repository[Job]):
    def __init__(self) -> None:
        super().__init__(Job)

    async def open_for_run(self, *, session: AsyncSession, workflow_run_id: str, **values: Any) -> uuid.UUID:
        """The job of a workflow run: created by the first call, found by any repeat (one statement)."""
        stmt = insert(Job).values(workflow_run_id=workflow_run_id, **values)
        # DO UPDATE (of nothing that changes) rather than DO NOTHING, so RETURNING has the row.
        stmt = stmt.on_conflict_do_update(
            index_elements=[Job.workflow_run_id], set_={"workflow_run_id": stmt.excluded.workflow_run_id}
        ).returning(Job.id)
        return (await session.execute(stmt)).scalar_one()

    async def set_stage(self, job_id: uuid.UUID, stage: str, *, session: AsyncSession) -> None:
        await session.execute(
            update(Job).where(Job.id == job_id).values(stage=stage, updated_by=SYSTEM_USER_ID)
        )

    async def finish(
        self, job_id: uuid.UUID, *, session: AsyncSession, status: str, metadata: dict[str, Any],
        **values: Any,
    ) -> None:
        """End the job (completed/failed) now, merging `metadata` into what it holds."""
        await session.execute(
            update(Job).where(Job.id == job_id).values(
                status=status, completed_at=func.now(), updated_by=SYSTEM_USER_ID,
                job_metadata=Job.job_metadata.op("||")(cast(metadata, JSONB)), **values,
            )
        )

    async def delete_finished_before(self, cutoff: datetime, *, session: AsyncSession) -> list[uuid.UUID]:
        """Delete completed/failed jobs that finished before `cutoff`; returns their ids."""
        return await self.delete(
            Job.status.in_(FINISHED_JOB_STATUSES), Job.completed_at < cutoff, session=session
        )

    async def listing(
        self, *, session: AsyncSession, status: str | None = None, team_id: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        filters = {k: v for k, v in {"status": status, "team_id": team_id}.items() if v is not None}
        return await self.find_many(session=session, order_by=[Job.created_at.desc()], limit=limit, **filters)


class TaskRepository(Repository[Task]):
    def __init__(self) -> None:
        super().__init__(Task)

    async def save_all(self, rows: list[dict[str, Any]], *, session: AsyncSession) -> list[Task]:
        """The task records of a discussion, one per (discussion, task_index): inserted once,
        refreshed on a repeat, in one statement. Returned in task_index order."""
        if not rows:
            return []
        stmt = insert(Task).values(rows)
        refreshed = {name: stmt.excluded[name] for name in rows[0] if name not in ("discussion_id", "task_index")}
        stmt = stmt.on_conflict_do_update(
            index_elements=[Task.discussion_id, Task.task_index],
            set_={**refreshed, "updated_at": func.now()},
        ).returning(Task)
        saved = (await session.scalars(stmt, execution_options={"populate_existing": True})).all()
        return sorted(saved, key=lambda task: task.task_index)

    async def for_discussion(self, discussion_id: uuid.UUID, *, session: AsyncSession) -> list[Task]:
        return await self.find_many(session=session, discussion_id=discussion_id, order_by=[Task.task_index])

