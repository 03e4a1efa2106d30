"""HealthCheckWorkflow: the smallest end-to-end run, Temporal -> worker -> Postgres.

It records a row (exactly once, through the idempotency helper), waits, then
confirms it. The wait makes it a handy probe for durability: stop the worker
during it and start another, and the run completes with one row.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from contracts.health import (
    ConfirmHealthCheckInput,
    HealthCheckInput,
    HealthCheckResult,
    RecordHealthCheckInput,
)
from workflows.policies import DB_WRITE

with workflow.unsafe.imports_passed_through():
    from activities.health import HealthActivities


@workflow.defn
class HealthCheckWorkflow:
    @workflow.run
    async def run(self, input: HealthCheckInput) -> HealthCheckResult:
        check_id = workflow.info().workflow_id
        record = await workflow.execute_activity_method(
            HealthActivities.record,
            RecordHealthCheckInput(check_id=check_id, message=input.message),
            **DB_WRITE,
        )
        if input.pause_seconds:
            await workflow.sleep(timedelta(seconds=input.pause_seconds))
        confirmed = await workflow.execute_activity_method(
            HealthActivities.confirm, ConfirmHealthCheckInput(check_id=check_id), **DB_WRITE
        )
        assert confirmed.confirmed_at is not None
        return HealthCheckResult(
            check_id=check_id,
            row_id=record.id,
            database_version=record.database_version,
            recorded_at=record.created_at,
            confirmed_at=confirmed.confirmed_at,
        )
