"""The signal ingestion pipeline's contract: a user's Gmail and Calendar become work items.

`IngestSignalsWorkflow` runs per user on a Schedule and on demand; `PruneRunLogWorkflow`
deletes the run log past its retention. Ids: `ingest_signals_workflow_id` (on demand: a
second "app open" joins the running one), the schedule's own id and its runs' id prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


def ingest_signals_workflow_id(user_id: str) -> str:
    """The on-demand run's id: a second "app open" while one runs joins it."""
    return f"ingest-signals/{user_id}"


def ingest_signals_schedule_id(user_id: str) -> str:
    """The id of the user's every-5-minutes Schedule."""
    return f"ingest-signals/{user_id}"


def scheduled_ingest_workflow_id(user_id: str) -> str:
    """The id the Schedule's runs start from (Temporal appends the scheduled time)."""
    return f"ingest-signals-scheduled/{user_id}"


# -- the workflows --------------------------------------------------------------------------


class IngestSignalsInput(BaseModel):
    user_id: str = Field(min_length=1)
    # On demand: skip when the last success is younger than this. None (schedules): always run.
    min_interval_seconds: int | None = Field(None, ge=0)
    full_sync_limit: int = Field(200, ge=1)


class IngestSourceResult(BaseModel):
    source: Literal["gmail", "calendar"]
    fetched: int  # signals the source returned
    stored: int  # new or changed work items
    unchanged: int  # stored before, same content: nothing written
    not_actionable: int  # no gate asked for action: not stored
    gone: int = 0  # listed, but deleted before we fetched it (404): skipped
    full_resync: bool
    cursor: str


class IngestSignalsResult(BaseModel):
    user_id: str
    status: Literal["completed", "skipped"]
    reason: str | None = None
    sources: list[IngestSourceResult] = []
    synced_at: datetime | None = None


class PruneRunLogInput(BaseModel):
    retention_days: int = Field(30, ge=1)


class PruneRunLogResult(BaseModel):
    cutoff: datetime
    events_deleted: int
    runs_deleted: int


# -- the activities -------------------------------------------------------------------------


class LoadIngestionInput(BaseModel):
    user_id: str


class LoadIngestionResult(BaseModel):
    """The user's ingestion state: whether to run, and where each source's cursor is."""

    user_id: str
    active: bool
    gmail_cursor: str | None
    calendar_cursor: str | None
    last_synced_at: datetime | None


class IngestSourceInput(BaseModel):
    user_id: str
    cursor: str | None
    full_sync_limit: int = 200


class FinishIngestionInput(BaseModel):
    user_id: str
    synced_at: datetime
    error: str | None = None


class DeleteOldRunsInput(BaseModel):
    cutoff: datetime


class DeleteOldRunsResult(BaseModel):
    events_deleted: int
    runs_deleted: int
