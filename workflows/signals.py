"""Signal ingestion workflows: ingest a user's signals, prune the run log.

`IngestSignalsWorkflow(user_id)` runs every 5 minutes per active user (a Schedule, overlap
skip) and on demand ("app open"): an on-demand run with `min_interval_seconds` is skipped
while the last success is fresher than that. Gmail and Calendar are ingested side by side,
each in one activity that stores many signals (one transaction per signal) and moves its
cursor with the last one. A failure records `last_error` (the cursors stay where they were)
and fails the run; the next run resumes from the last good cursor.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from contracts.signals import (
    DeleteOldRunsInput,
    FinishIngestionInput,
    IngestSignalsInput,
    IngestSignalsResult,
    IngestSourceInput,
    IngestSourceResult,
    LoadIngestionInput,
    PruneRunLogInput,
    PruneRunLogResult,
)
from workflows.policies import DB_WRITE, ActivityOptions
from workflows.search_attributes import USER_ID

with workflow.unsafe.imports_passed_through():
    from activities.signals import SignalActivities

# One source's sync: fetches and many transactions; the schedule comes back in 5 minutes anyway.
# It heartbeats (the worker's interceptor, between its own progress beats), so a dead worker's
# sync is retried elsewhere after 10 s (workflows/policies.py HEARTBEAT_TIMEOUT).
SOURCE_SYNC: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=3,
    ),
}


@workflow.defn
class IngestSignalsWorkflow:
    @workflow.run
    async def run(self, input: IngestSignalsInput) -> IngestSignalsResult:
        workflow.upsert_search_attributes([USER_ID.value_set(input.user_id)])
        plan = await workflow.execute_local_activity_method(
            SignalActivities.load_ingestion, LoadIngestionInput(user_id=input.user_id), **DB_WRITE
        )
        now = workflow.now()
        if not plan.active:
            return IngestSignalsResult(user_id=input.user_id, status="skipped", reason="user is not active")
        if (
            input.min_interval_seconds is not None
            and plan.last_synced_at is not None
            and now - plan.last_synced_at < timedelta(seconds=input.min_interval_seconds)
        ):
            return IngestSignalsResult(
                user_id=input.user_id,
                status="skipped",
                reason=f"last synced at {plan.last_synced_at:%H:%M:%S}, less than {input.min_interval_seconds} s ago",
            )
        outcomes = await asyncio.gather(
            workflow.execute_activity_method(
                SignalActivities.ingest_gmail,
                IngestSourceInput(
                    user_id=input.user_id, cursor=plan.gmail_cursor, full_sync_limit=input.full_sync_limit
                ),
                **SOURCE_SYNC,
            ),
            workflow.execute_activity_method(
                SignalActivities.ingest_calendar,
                IngestSourceInput(
                    user_id=input.user_id, cursor=plan.calendar_cursor, full_sync_limit=input.full_sync_limit
                ),
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
            raise ApplicationError(
                f"ingestion of {input.user_id} failed: {'; '.join(errors)}", type="IngestionFailed", non_retryable=True
            )
        sources = [o for o in outcomes if isinstance(o, IngestSourceResult)]
        return IngestSignalsResult(user_id=input.user_id, status="completed", sources=sources, synced_at=finished)


def _message(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause is not None else error
    return str(cause)


@workflow.defn
class PruneRunLogWorkflow:
    """Daily (a Schedule): run log events and runs older than the retention, in one transaction."""

    @workflow.run
    async def run(self, input: PruneRunLogInput) -> PruneRunLogResult:
        cutoff = workflow.now() - timedelta(days=input.retention_days)
        result = await workflow.execute_activity_method(
            SignalActivities.delete_old_runs, DeleteOldRunsInput(cutoff=cutoff), **DB_WRITE
        )
        return PruneRunLogResult(cutoff=cutoff, events_deleted=result.events_deleted, runs_deleted=result.runs_deleted)
