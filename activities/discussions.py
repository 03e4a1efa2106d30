"""Activities of the discussion pipeline (seed 001)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from activities.deps import Deps
from db.repositories.discussions import JobRepository
from db.uow import unit_of_work


class DeleteOldJobsInput(BaseModel):
    cutoff: datetime


class DeleteOldJobsResult(BaseModel):
    deleted_job_ids: list[str]


class DiscussionMaintenanceActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._jobs = JobRepository()

    @activity.defn(name="delete_old_jobs")
    async def delete_old_jobs(self, input: DeleteOldJobsInput) -> DeleteOldJobsResult:
        """Delete completed/failed jobs finished before the cutoff, in one transaction.

        Idempotent by nature: a retry after the commit finds nothing left to delete.
        """
        async with unit_of_work(self._sessions) as session:
            deleted = await self._jobs.delete_finished_before(input.cutoff, session=session)
        activity.logger.info("deleted %d jobs finished before %s", len(deleted), input.cutoff)
        return DeleteOldJobsResult(deleted_job_ids=[str(job_id) for job_id in deleted])
