"""The health pipeline's contract: HealthCheckWorkflow records a row, waits, confirms it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class HealthCheckInput(BaseModel):
    message: str = "intake is healthy"
    # Seconds between recording and confirming (a durable timer).
    pause_seconds: float = Field(0.0, ge=0, le=3600)


class HealthCheckResult(BaseModel):
    check_id: str
    row_id: int
    database_version: str
    recorded_at: datetime
    confirmed_at: datetime


class RecordHealthCheckInput(BaseModel):
    check_id: str
    message: str


class RecordHealthCheckResult(BaseModel):
    """The health check's row as stored."""

    id: int
    check_id: str
    message: str
    database_version: str
    workflow_id: str
    created_at: datetime
    confirmed_at: datetime | None = None


class ConfirmHealthCheckInput(BaseModel):
    check_id: str


class ConfirmHealthCheckResult(RecordHealthCheckResult):
    """The row after confirming it (`confirmed_at` set)."""


def health_check_workflow_id(token: str) -> str:
    """A health check's workflow id; `token` is new for every check (a uuid4)."""
    return f"health-{token}"
