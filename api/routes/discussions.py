"""Discussions and their jobs: list, look up (with job history and tasks), retry a failed one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CallerDep, ServicesDep
from api.problems import ApiProblem, problem_responses
from api.routes.params import LIST_PROBLEMS, READ_PROBLEMS, ListParams, temporal
from client import views
from client.admin import RetryAccepted, retry_team_discussion
from client.discussions import DiscussionNotRetryableError

router = APIRouter(tags=["discussions"])


class DiscussionFilters(ListParams):
    status: views.DiscussionStatus | None = None
    source: views.SourceType | None = None


class JobFilters(ListParams):
    status: views.JobStatus | None = None
    stage: views.JobStage | None = None
    source: views.SourceType | None = None
    discussion_id: uuid.UUID | None = None


@router.get(
    "/discussions", response_model=views.DiscussionPage, summary="The team's discussions", responses=LIST_PROBLEMS
)
async def list_discussions(
    caller: CallerDep, services: ServicesDep, params: Annotated[DiscussionFilters, Query()]
) -> views.DiscussionPage:
    return await views.list_discussions(
        services.sessions,
        team_id=caller.team_id,
        status=params.status,
        source_type=params.source,
        limit=params.limit,
        cursor=params.cursor,
    )


@router.get(
    "/discussions/{discussion_id}",
    response_model=views.DiscussionDetail,
    summary="A discussion with its job history and tasks",
    responses=READ_PROBLEMS,
)
async def get_discussion(discussion_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> views.DiscussionDetail:
    return await views.get_discussion(services.sessions, team_id=caller.team_id, discussion_id=discussion_id)


@router.post(
    "/discussions/{discussion_id}/retry",
    status_code=202,
    response_model=RetryAccepted,
    summary="Retry a failed discussion: a new job on the stored thread",
    description="422 when the discussion has not failed (e.g. `is completed, not failed`).",
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def retry(discussion_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> RetryAccepted:
    try:
        return await temporal(
            retry_team_discussion(
                services.temporal,
                services.sessions,
                team_id=caller.team_id,
                discussion_id=discussion_id,
                retried_by=f"api-token:{caller.token_id}",
                task_queue=services.settings.task_queue,
            )
        )
    except DiscussionNotRetryableError as err:
        raise ApiProblem(422, str(err)) from err


@router.get(
    "/jobs", response_model=views.JobPage, summary="The team's jobs, by status, stage, source", responses=LIST_PROBLEMS
)
async def list_jobs(caller: CallerDep, services: ServicesDep, params: Annotated[JobFilters, Query()]) -> views.JobPage:
    return await views.list_jobs(
        services.sessions,
        team_id=caller.team_id,
        status=params.status,
        stage=params.stage,
        source_type=params.source,
        discussion_id=params.discussion_id,
        limit=params.limit,
        cursor=params.cursor,
    )


@router.get(
    "/jobs/{job_id}", response_model=views.JobDetail, summary="A job with its error and stack", responses=READ_PROBLEMS
)
async def get_job(job_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> views.JobDetail:
    return await views.get_job(services.sessions, team_id=caller.team_id, job_id=job_id)
