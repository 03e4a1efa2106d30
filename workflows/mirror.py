"""The engine mirror's retention: a daily Schedule prunes what is older than MIRROR_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from contracts.mirror import DeleteOldMirrorRowsInput, PruneMirrorInput, PruneMirrorResult
from workflows.policies import DB_WRITE

with workflow.unsafe.imports_passed_through():
    from activities.mirror import MirrorActivities


@workflow.defn
class PruneMirrorWorkflow:
    """Delete mirrored runs closed, and attempts started, before the retention, in one transaction."""

    @workflow.run
    async def run(self, input: PruneMirrorInput) -> PruneMirrorResult:
        cutoff = workflow.now() - timedelta(days=input.retention_days)
        result = await workflow.execute_activity_method(
            MirrorActivities.prune, DeleteOldMirrorRowsInput(cutoff=cutoff), **DB_WRITE
        )
        return PruneMirrorResult(
            cutoff=cutoff, executions_deleted=result.executions_deleted, attempts_deleted=result.attempts_deleted
        )
