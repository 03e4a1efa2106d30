"""The Sheets export queue (export_jobs): enqueue, pick what is due, mirror each attempt, pause, requeue.

Statuses: PENDING (waiting, due at next_attempt_at), PROCESSING (an attempt is
calling Sheets), DONE, FAILED (the attempts of a round are used up; a manual
retry makes it PENDING again).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.work_orders import ExportJob
from db.repository import Repository

OPEN_STATUSES = ("PENDING", "PROCESSING")


class ExportJobRepository(Repository[ExportJob]):
    def __init__(self) -> None:
        super().__init__(ExportJob)

    async def enqueue(
        self, *, session: AsyncSession, workspace_id: uuid.UUID, kind: str,
        work_order_id: uuid.UUID | None = None, signed_document_id: uuid.UUID | None = None,
    ) -> bool:
        """Queue the export of one work order or signed document, once; True when queued now."""
        created = await session.scalar(
            insert(ExportJob)
            .values(workspace_id=workspace_id, kind=kind, work_order_id=work_order_id,
                    signed_document_id=signed_document_id)
            .on_conflict_do_nothing()
            .returning(ExportJob.id)
        )
        return created is not None

    async def due(self, *, session: AsyncSession, limit: int) -> list[uuid.UUID]:
        """Open jobs whose time has come, oldest first.

        PROCESSING ones are included: only one drain runs at a time and it asks
        between batches, so a PROCESSING job seen here was left by a drain that
        stopped mid-attempt.
        """
        stmt = (
            select(ExportJob.id)
            .where(ExportJob.status.in_(OPEN_STATUSES), ExportJob.next_attempt_at <= func.now())
            .order_by(ExportJob.next_attempt_at, ExportJob.created_at, ExportJob.id)
            .limit(limit)
        )
        return list((await session.scalars(stmt)).all())

    async def begin_attempt(self, job_id: uuid.UUID, attempt: int, *, session: AsyncSession) -> tuple[ExportJob, bool]:
        """Mark an attempt as started (locking the row); returns the job and whether an earlier
        attempt ever started (then it may have written to Sheets already)."""
        job = await session.scalar(select(ExportJob).where(ExportJob.id == job_id).with_for_update())
        if job is None:
            raise LookupError(f"export job {job_id} does not exist")
        tried_before = job.last_attempt_at is not None
        if job.status != "DONE":
            job.status, job.attempts, job.last_attempt_at = "PROCESSING", attempt, func.now()
            await self._flush(session, "begin export attempt")
            await session.refresh(job)
        return job, tried_before

    async def finish(self, job_id: uuid.UUID, sheet_row: int, *, attempt: int, session: AsyncSession) -> bool:
        """Attempt `attempt` wrote the row: DONE. False when a later attempt has begun since (it owns the
        job now and finds the row itself) or the job is DONE already."""
        rows = await self.update(
            ExportJob.id == job_id, ExportJob.attempts == attempt, ExportJob.status != "DONE",
            values={"status": "DONE", "sheet_row": sheet_row, "last_error": None, "completed_at": func.now()},
            session=session,
        )
        return bool(rows)

    async def record_failure(
        self, job_id: uuid.UUID, error: str, *, session: AsyncSession, final: bool, retry_in: timedelta | None = None,
        attempt: int | None = None,
    ) -> bool:
        """An attempt failed: FAILED when it was the last one, else PENDING until the next attempt.

        With `attempt`, only while that attempt is still the job's latest one (a stale attempt does not
        overwrite a later one's state). The next attempt time never moves earlier: a quota hold
        (`pause_open`) set meanwhile stands.
        """
        values: dict[str, Any] = {"last_error": error}
        if final:
            values |= {"status": "FAILED", "completed_at": func.now()}
        else:
            values |= {"status": "PENDING", "next_attempt_at": func.greatest(
                ExportJob.next_attempt_at, func.now() + (retry_in or timedelta(0)))}
        where = [ExportJob.id == job_id, ExportJob.status != "DONE"]
        if attempt is not None:
            where.append(ExportJob.attempts == attempt)
        return bool(await self.update(*where, values=values, session=session))

    async def pause_open(self, until: datetime, *, session: AsyncSession) -> int:
        """Hold every open job until `until` (a quota stop); returns how many."""
        rows = await self.update(
            ExportJob.status.in_(OPEN_STATUSES),
            values={"status": "PENDING", "next_attempt_at": func.greatest(ExportJob.next_attempt_at, until)},
            session=session,
        )
        return len(rows)

    async def requeue_failed(self, *, session: AsyncSession, job_ids: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
        """FAILED jobs (all, or these) back to PENDING for a fresh round of attempts."""
        where = [ExportJob.status == "FAILED"]
        if job_ids is not None:
            where.append(ExportJob.id.in_(job_ids))
        rows = await self.update(
            *where,
            values={"status": "PENDING", "attempts": 0, "next_attempt_at": func.now(), "completed_at": None},
            session=session,
        )
        return [row.id for row in rows]

    async def status_counts(self, *, session: AsyncSession) -> dict[str, int]:
        stmt = select(ExportJob.status, func.count()).group_by(ExportJob.status)
        return {status: int(count) for status, count in (await session.execute(stmt)).all()}

    async def held_until(self, *, session: AsyncSession) -> datetime | None:
        """When the latest-held open job becomes due, if that is in the future (a quota pause)."""
        latest = await session.scalar(
            select(func.max(ExportJob.next_attempt_at)).where(ExportJob.status.in_(OPEN_STATUSES))
        )
        now = await session.scalar(select(func.now()))
        return latest if latest is not None and now is not None and latest > now else None

    async def listing(self, *, session: AsyncSession, status: str | None = None, limit: int = 50) -> list[ExportJob]:
        where = [ExportJob.status == status] if status else []
        return await self.find_many(*where, session=session, order_by=[ExportJob.updated_at.desc()], limit=limit)
