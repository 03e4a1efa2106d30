"""Queries of the discussion pipeline. Every read and write is team-scoped."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.repository import Repository

log = logging.getLogger(__name__)

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

    async def for_team(self, team_id: str, discussion_id: uuid.UUID, *, session: AsyncSession) -> Discussion | None:
        return await self.find_one(Discussion.id == discussion_id, session=session, team_id=team_id)


class JobRepository(Repository[Job]):
    def __init__(self) -> None:
        super().__init__(Job)

    async def delete_finished_before(self, cutoff: datetime, *, session: AsyncSession) -> list[uuid.UUID]:
        """Delete completed/failed jobs that finished before `cutoff`; returns their ids."""
        return await self.delete(Job.status.in_(FINISHED_JOB_STATUSES), Job.completed_at < cutoff, session=session)

    async def listing(
        self,
        *,
        session: AsyncSession,
        status: str | None = None,
        team_id: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        where = [*([Job.status == status] if status else []), *([Job.team_id == team_id] if team_id else [])]
        return await self.find_many(*where, session=session, order_by=[Job.created_at.desc()], limit=limit)


class TaskRepository(Repository[Task]):
    def __init__(self) -> None:
        super().__init__(Task)

    async def for_discussion(self, discussion_id: uuid.UUID, *, session: AsyncSession) -> list[Task]:
        return await self.find_many(session=session, discussion_id=discussion_id, order_by=[Task.task_index])
