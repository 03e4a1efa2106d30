"""The Sheets export queue (export_jobs): enqueue, pick what is due, mirror each attempt, pause, requeue.

Statuses: PENDING (waiting, due at next_attempt_at), PROCESSING (an attempt is
calling Sheets, until next_attempt_at at the latest: its lease), DONE, FAILED
(the attempts of a round are used up; a manual retry makes it PENDING again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.work_orders import ExportJob
from db.repository import Repository

OPEN_STATUSES = ("PENDING", "PROCESSING")


@dataclass(frozen=True)
class Lease:
    """How long an export attempt may call Sheets: `first` for an attempt that appends straight
    away, `retry` for one that reads the key column first; `longest` bounds any attempt's."""

    first: timedelta
    retry: timedelta

    @property
    def longest(self) -> timedelta:
        return max(self.first, self.retry)

    def calls(self, tried_before: bool) -> timedelta:
        return self.retry if tried_before else self.first


@dataclass(frozen=True)
class BegunAttempt:
    job: ExportJob
    tried_before: bool  # an earlier attempt started: it may have written the row
    wait: timedelta  # until an earlier attempt's lease ends: call Sheets only after it


class ExportJobRepository(Repository[ExportJob]):
    def __init__(self) -> None:
        super().__init__(ExportJob)

    async def enqueue(
        self,
        *,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        kind: str,
        work_order_id: uuid.UUID | None = None,
        signed_document_id: uuid.UUID | None = None,
    ) -> bool:
        """Queue the export of one work order or signed document, once; True when queued now."""
        created = await session.scalar(
            insert(ExportJob)
            .values(
                workspace_id=workspace_id, kind=kind, work_order_id=work_order_id, signed_document_id=signed_document_id
            )
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

    async def begin_attempt(
        self,
        job_id: uuid.UUID,
        attempt: int,
        *,
        session: AsyncSession,
        lease: Lease | None = None,
        again: bool = False,
    ) -> BegunAttempt:
        """Mark an attempt as started (locking the row): the job, whether an earlier attempt ever
        started (then it may have written to Sheets already), and with `lease` how long to wait
        before calling Sheets.

        With `lease`, `next_attempt_at` becomes the end of this attempt's Sheets calls: they start
        when the lease an earlier attempt left there ends (at most `lease.longest` from now: an
        attempt may still be calling Sheets until then, if its worker lives on after Temporal gave
        up on it), or now, and last `lease.calls(tried_before)`. `again`: this attempt ran before
        and its calls are over, so a lease of the same attempt number is its own, not waited for.
        """
        found = (
            await session.execute(select(ExportJob, func.now()).where(ExportJob.id == job_id).with_for_update())
        ).first()
        if found is None:
            raise LookupError(f"export job {job_id} does not exist")
        job, now = found
        tried_before = job.last_attempt_at is not None
        wait = timedelta(0)
        if job.status != "DONE":
            if lease is not None:
                if not (again and job.attempts == attempt):
                    wait = min(max(job.next_attempt_at - now, timedelta(0)), lease.longest)
                job.next_attempt_at = now + wait + lease.calls(tried_before)
            job.status, job.attempts, job.last_attempt_at = "PROCESSING", attempt, func.now()
            await self._flush(session, "begin export attempt")
            await session.refresh(job)
        return BegunAttempt(job=job, tried_before=tried_before, wait=wait)

    async def finish(self, job_id: uuid.UUID, sheet_row: int, *, attempt: int, session: AsyncSession) -> bool:
        """Attempt `attempt` wrote the row: DONE. False when a later attempt has begun since (it owns the
        job now and finds the row itself) or the job is DONE already."""
        rows = await self.update(
            ExportJob.id == job_id,
            ExportJob.attempts == attempt,
            ExportJob.status != "DONE",
            values={"status": "DONE", "sheet_row": sheet_row, "last_error": None, "completed_at": func.now()},
            session=session,
        )
        return bool(rows)

    async def record_failure(
        self,
        job_id: uuid.UUID,
        error: str,
        *,
        session: AsyncSession,
        final: bool,
        retry_in: timedelta | None = None,
        attempt: int | None = None,
    ) -> bool:
        """An attempt failed: FAILED when it was the last one, else PENDING until the next attempt.

        With `attempt`, only while that attempt is still the job's latest one (a stale attempt does not
        overwrite a later one's state). The next attempt time never moves earlier: a quota hold
        (`pause_open`) set meanwhile stands.
        """
        values: dict[str, Any] = {"last_error": error}
        retry_at = func.now() + (retry_in or timedelta(0))
        if attempt is not None:
            # The attempt's own failure, after its Sheets calls ended: its lease is over (a job still
            # PROCESSING has had no quota hold since the attempt began).
            retry_at = case(
                (ExportJob.status == "PROCESSING", retry_at), else_=func.greatest(ExportJob.next_attempt_at, retry_at)
            )
        else:
            retry_at = func.greatest(ExportJob.next_attempt_at, retry_at)
        if final:
            values |= {"status": "FAILED", "completed_at": func.now()}
            if attempt is not None:
                values["next_attempt_at"] = retry_at
        else:
            values |= {"status": "PENDING", "next_attempt_at": retry_at}
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
            # Not before the lease of an attempt that may still be calling Sheets (one the workflow
            # gave up on, marked FAILED by `export_mark_failed`).
            values={
                "status": "PENDING",
                "attempts": 0,
                "completed_at": None,
                "next_attempt_at": func.greatest(ExportJob.next_attempt_at, func.now()),
            },
            session=session,
        )
        return [row.id for row in rows]

    async def status_counts(self, *, session: AsyncSession) -> dict[str, int]:
        stmt = select(ExportJob.status, func.count()).group_by(ExportJob.status)
        return {status: int(count) for status, count in (await session.execute(stmt)).all()}

    async def held_until(self, *, session: AsyncSession) -> datetime | None:
        """When the latest-held waiting job becomes due, if that is in the future (a quota pause;
        a PROCESSING job's next_attempt_at is its attempt's lease, not a hold)."""
        latest = await session.scalar(select(func.max(ExportJob.next_attempt_at)).where(ExportJob.status == "PENDING"))
        now = await session.scalar(select(func.now()))
        return latest if latest is not None and now is not None and latest > now else None

    async def listing(self, *, session: AsyncSession, status: str | None = None, limit: int = 50) -> list[ExportJob]:
        where = [ExportJob.status == status] if status else []
        return await self.find_many(*where, session=session, order_by=[ExportJob.updated_at.desc()], limit=limit)
