"""Signal ingestion workflows (seed 000): ingest a user's signals, queue a tool call, prune the run log.

`IngestSignalsWorkflow(user_id)` runs every 5 minutes per active user (a Schedule, overlap
skip) and on demand ("app open"): an on-demand run with `min_interval_seconds` is skipped
while the last success is fresher than that. Gmail and Calendar are ingested side by side,
each in one activity that stores many signals (one transaction per signal) and moves its
cursor with the last one. A failure records `last_error` (the cursors stay where they were)
and fails the run; the next run resumes from the last good cursor.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.approvals import ApprovalActivities, QueueToolCallInput, QueueToolCallResult
    from activities.signals import (
        FinishIngestionInput,
        IngestSourceInput,
        IngestSourceResult,
        LoadIngestionInput,
        PruneRunLogInput,
        SignalActivities,
    )
    from workflows.policies import DB_WRITE, NON_RETRYABLE
    from workflows.search_attributes import USER_ID

# One source's sync: fetches and many transactions; the schedule comes back in 5 minutes anyway.
# It heartbeats (the worker's interceptor, between its own progress beats), so a dead worker's
# sync is retried elsewhere after 10 s (workflows/policies.py HEARTBEAT_TIMEOUT).
SOURCE_SYNC = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=3,
        non_retryable_error_types=NON_RETRYABLE,
    ),
}


def ingest_workflow_id(user_id: str) -> str:
    """The on-demand run's id: a second "app open" while one runs joins it."""
    return f"ingest-signals/{user_id}"


class IngestSignalsInput(BaseModel):
    user_id: str = Field(min_length=1)
    # On demand: skip when the last success is younger than this. None (schedules): always run.
    min_interval_seconds: int | None = Field(None, ge=0)
    full_sync_limit: int = Field(200, ge=1)


class IngestSignalsResult(BaseModel):
    user_id: str
    status: Literal["completed", "skipped"]
    reason: str | None = None
    sources: list[IngestSourceResult] = []
    synced_at: datetime | None = None


@workflow.defn
class IngestSignalsWorkflow:
    @workflow.run
    async def run(self, input: IngestSignalsInput) -> IngestSignalsResult:
        workflow.upsert_search_attributes(TypedSearchAttributes([SearchAttributePair(USER_ID, input.user_id)]))
        plan = await workflow.execute_local_activity_method(
            SignalActivities.load_ingestion, LoadIngestionInput(user_id=input.user_id), **DB_WRITE
        )
        now = workflow.now()
        if not plan.active:
            return IngestSignalsResult(user_id=input.user_id, status="skipped", reason="user is not active")
        if (input.min_interval_seconds is not None and plan.last_synced_at is not None
                and now - plan.last_synced_at < timedelta(seconds=input.min_interval_seconds)):
            return IngestSignalsResult(user_id=input.user_id, status="skipped",
                                       reason=f"last synced at {plan.last_synced_at:%H:%M:%S}, "
                                              f"less than {input.min_interval_seconds} s ago")
        outcomes = await asyncio.gather(
            workflow.execute_activity_method(
                SignalActivities.ingest_gmail,
                IngestSourceInput(user_id=input.user_id, cursor=plan.gmail_cursor,
                                  full_sync_limit=input.full_sync_limit),
                **SOURCE_SYNC,
            ),
            workflow.execute_activity_method(
                SignalActivities.ingest_calendar,
                IngestSourceInput(user_id=input.user_id, cursor=plan.calendar_cursor,
                                  full_sync_limit=input.full_sync_limit),
                **SOURCE_SYNC,
            ),
            return_exceptions=True,
        )
        errors = [_message(o) for o in outcomes if isinstance(o, BaseException)]
        finished = workflow.now()
        await workflow.execute_local_activity_method(
            SignalActivities.finish_ingestion,
            FinishIngestionInput(user_id=input.user_id, synced_at=finished, error="; ".join(errors) or None),
            **DB_WRITE,
        )
        if errors:
            raise ApplicationError(f"ingestion of {input.user_id} failed: {'; '.join(errors)}",
                                   type="IngestionFailed", non_retryable=True)
        sources = [o for o in outcomes if isinstance(o, IngestSourceResult)]
        return IngestSignalsResult(user_id=input.user_id, status="completed", sources=sources, synced_at=finished)


def _message(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause is not None else error
    return str(cause)


class PruneRunLogRequest(BaseModel):
    retention_days: int = Field(30, ge=1)


class PruneRunLogOutcome(BaseModel):
    cutoff: datetime
    events_deleted: int
    runs_deleted: int


@workflow.defn
class PruneRunLogWorkflow:
    """Daily (a Schedule): run log events and runs older than the retention, in one transaction."""

    @workflow.run
    async def run(self, input: PruneRunLogRequest) -> PruneRunLogOutcome:
        cutoff = workflow.now() - timedelta(days=input.retention_days)
        result = await workflow.execute_activity_method(
            SignalActivities.prune_run_log, PruneRunLogInput(cutoff=cutoff), **DB_WRITE
        )
        return PruneRunLogOutcome(cutoff=cutoff, events_deleted=result.events_deleted,
                                  runs_deleted=result.runs_deleted)


class QueueToolCallRequest(BaseModel):
    user_id: str = Field(min_length=1)
    call_id: str = Field(min_length=1)
    action_type: Literal["draft_reply", "schedule_event", "refund_request"]
    payload: dict
    summary: str = Field(min_length=1)
    context: str = ""


@workflow.defn
class QueueToolCallWorkflow:
    """A tool call (e.g. from an assistant) queued for approval: work item + action in one transaction."""

    @workflow.run
    async def run(self, input: QueueToolCallRequest) -> QueueToolCallResult:
        workflow.upsert_search_attributes(TypedSearchAttributes([SearchAttributePair(USER_ID, input.user_id)]))
        info = workflow.info()
        return await workflow.execute_activity_method(
            ApprovalActivities.queue_tool_call,
            QueueToolCallInput(**input.model_dump(), workflow_id=info.workflow_id, workflow_run_id=info.run_id),
            **DB_WRITE,
        )
