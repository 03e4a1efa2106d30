"""Work orders and the Sheets export: the preview (newest first, with export status), one work
order with its sources, extraction runs and signed match, export jobs and their status, and the
retry of a FAILED export job."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.deps import CallerDep, ServicesDep
from api.problems import problem_responses
from api.routes.params import LIST_PROBLEMS, READ_PROBLEMS, ListParams, temporal
from client import views
from client.admin import ExportRetryAccepted, retry_team_export
from contracts.work_orders import SLUG_PATTERN
from db.pagination import MAX_LIMIT

router = APIRouter(tags=["work orders"])


class WorkOrderFilters(ListParams):
    limit: int = Field(views.PREVIEW_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT}.")
    workspace: str | None = Field(None, pattern=f"^{SLUG_PATTERN.pattern}$", description="A workspace slug.")
    status: views.WorkOrderStatus | None = None
    export_status: views.ExportStatus | None = None


class ExportJobFilters(ListParams):
    status: views.ExportStatus | None = None


@router.get(
    "/work-orders",
    response_model=views.WorkOrderPage,
    summary="The preview: the team's work orders, newest first (20 a page), with export status",
    responses=LIST_PROBLEMS,
)
async def list_work_orders(
    caller: CallerDep, services: ServicesDep, params: Annotated[WorkOrderFilters, Query()]
) -> views.WorkOrderPage:
    return await views.list_work_orders(
        services.sessions,
        team_id=caller.team_id,
        workspace=params.workspace,
        status=params.status,
        export_status=params.export_status,
        limit=params.limit,
        cursor=params.cursor,
    )


@router.get(
    "/work-orders/{work_order_id}",
    response_model=views.WorkOrderDetail,
    summary="A work order with its sources, extraction runs, signed match and export status",
    responses=READ_PROBLEMS,
)
async def get_work_order(work_order_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> views.WorkOrderDetail:
    return await views.get_work_order(services.sessions, team_id=caller.team_id, work_order_id=work_order_id)


@router.get(
    "/exports/status",
    response_model=views.ExportStatusView,
    summary="The team's export jobs per status, a quota hold, the latest FAILED jobs",
    responses=problem_responses(401),
)
async def export_status(caller: CallerDep, services: ServicesDep) -> views.ExportStatusView:
    return await views.export_status(services.sessions, team_id=caller.team_id)


@router.get(
    "/export-jobs",
    response_model=views.ExportJobPage,
    summary="The team's export jobs, newest first",
    responses=LIST_PROBLEMS,
)
async def list_export_jobs(
    caller: CallerDep, services: ServicesDep, params: Annotated[ExportJobFilters, Query()]
) -> views.ExportJobPage:
    return await views.list_export_jobs(
        services.sessions, team_id=caller.team_id, status=params.status, limit=params.limit, cursor=params.cursor
    )


@router.get(
    "/export-jobs/{job_id}", response_model=views.ExportJobView, summary="An export job", responses=READ_PROBLEMS
)
async def get_export_job(job_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> views.ExportJobView:
    return await views.get_export_job(services.sessions, team_id=caller.team_id, job_id=job_id)


@router.post(
    "/export-jobs/{job_id}/retry",
    status_code=202,
    response_model=ExportRetryAccepted,
    summary="Retry a FAILED export job: a fresh round of attempts",
    description="409 when the job is not FAILED.",
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def retry_export(job_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> ExportRetryAccepted:
    return await temporal(
        retry_team_export(
            services.temporal,
            services.sessions,
            team_id=caller.team_id,
            job_id=job_id,
            task_queue=services.settings.task_queue,
        )
    )
