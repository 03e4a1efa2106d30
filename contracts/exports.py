"""The Sheets export pipeline's contract: one `ExportDrainWorkflow` per task queue drains the
export jobs (`export_drain_workflow_id`); its activities take and return the models below."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


def export_drain_workflow_id(task_queue: str) -> str:
    """The one drain's workflow id for the workers of `task_queue`."""
    return f"export-drain/{task_queue}"


# -- the workflow ---------------------------------------------------------------------------


class ExportDrainTotals(BaseModel):
    exported: int = 0
    failed: int = 0
    quota_stops: int = 0
    failed_job_ids: list[str] = []


class ExportDrainInput(BaseModel):
    batch_size: int = Field(50, ge=1, le=1000)
    concurrency: int = Field(4, ge=1, le=64)
    cooldown_seconds: float = Field(60.0, gt=0, le=86400)
    # Start a fresh run (continue-as-new) after this many jobs, so the history stays small.
    jobs_per_run: int = Field(500, ge=1)
    # Set on runs that only hand over (the Schedule's): the singleton drain's id to kick.
    hand_over_to: str | None = None
    totals: ExportDrainTotals | None = None  # carried over by continue-as-new


class ExportDrainResult(BaseModel):
    totals: ExportDrainTotals
    handed_over_to: str | None = None  # set when this run only kicked the singleton drain


# -- the activities -------------------------------------------------------------------------


class ListDueJobsInput(BaseModel):
    limit: int


class ListDueJobsResult(BaseModel):
    job_ids: list[str]


class ExportJobInput(BaseModel):
    job_id: str


class ExportJobResult(BaseModel):
    job_id: str
    outcome: Literal["appended", "found", "already_done"]
    sheet_row: int | None


class MarkJobFailedInput(BaseModel):
    job_id: str
    error: str


class PauseJobsInput(BaseModel):
    until: datetime


class PauseJobsResult(BaseModel):
    held: int


class RequeueFailedInput(BaseModel):
    job_ids: list[str] | None = None  # None: every FAILED job


class RequeueFailedResult(BaseModel):
    job_ids: list[str]
