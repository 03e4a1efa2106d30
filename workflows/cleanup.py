"""CleanupJobsWorkflow: delete finished discussion jobs past their retention (seed 001).

Started daily by the `cleanup-jobs` Schedule (`intake schedules apply`); the
cutoff is computed from the workflow's clock, so a replay computes the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.discussions import DeleteOldJobsInput, DiscussionActivities
    from workflows.policies import DB_WRITE


class CleanupJobsInput(BaseModel):
    retention_days: int = Field(30, ge=1)


class CleanupJobsResult(BaseModel):
    cutoff: datetime
    deleted_job_ids: list[str]


@workflow.defn
class CleanupJobsWorkflow:
    @workflow.run
    async def run(self, input: CleanupJobsInput) -> CleanupJobsResult:
        cutoff = workflow.now() - timedelta(days=input.retention_days)
        result = await workflow.execute_activity_method(
            DiscussionActivities.delete_old_jobs, DeleteOldJobsInput(cutoff=cutoff), **DB_WRITE
        )
        return CleanupJobsResult(cutoff=cutoff, deleted_job_ids=result.deleted_job_ids)
