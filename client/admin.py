"""Team-scoped actions of the admin API and the dashboard: retry a failed discussion, retry a FAILED
export job. Each checks the team first (another team's id is NotFoundError like an unknown one)
and answers with a pydantic model the API returns as is.

Approvals take the team through `client.signals` (`approve_action(..., team_id=...)` and the like).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from client import views
from client.discussions import retry_discussion
from client.work_orders import retry_failed_exports

# How long a retry waits for its run to write the new job before answering without it.
RETRY_JOB_WAIT_SECONDS = 5.0


class RetryAccepted(BaseModel):
    """A retry was started: a new run (and job) on the stored thread."""

    discussion_id: uuid.UUID
    workflow_id: str
    run_id: str | None
    # The new job, once its run has written it (null when the run had not started in time).
    job: views.JobSummary | None


class ExportRetryAccepted(BaseModel):
    """The FAILED job goes back in the queue for a fresh round of attempts, and the drain runs."""

    job_id: uuid.UUID
    drain_workflow_id: str
    drain_run_id: str | None


async def retry_team_discussion(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    discussion_id: str | uuid.UUID,
    retried_by: str,
    task_queue: str,
    wait_seconds: float = RETRY_JOB_WAIT_SECONDS,
) -> RetryAccepted:
    """Retry the team's failed discussion (DiscussionNotRetryableError when it has not failed) and
    return the new run, with its job once the run's first step has written it."""
    handle = await retry_discussion(
        client,
        sessions,
        team_id=team_id,
        discussion_id=str(discussion_id),
        retried_by=retried_by,
        task_queue=task_queue,
    )
    run_id = handle.result_run_id or handle.run_id
    job = (
        await views.job_of_run(sessions, team_id=team_id, workflow_run_id=run_id, wait_seconds=wait_seconds)
        if run_id
        else None
    )
    return RetryAccepted(discussion_id=uuid.UUID(str(discussion_id)), workflow_id=handle.id, run_id=run_id, job=job)


async def retry_team_export(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    job_id: str | uuid.UUID,
    task_queue: str,
) -> ExportRetryAccepted:
    """Retry the team's FAILED export job (ConflictError for one not FAILED)."""
    job = await views.get_export_job(sessions, team_id=team_id, job_id=job_id)
    handle = await retry_failed_exports(client, task_queue=task_queue, job_ids=[str(job.id)], sessions=sessions)
    return ExportRetryAccepted(
        job_id=job.id, drain_workflow_id=handle.id, drain_run_id=handle.result_run_id or handle.run_id
    )
