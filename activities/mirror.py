"""The engine mirror's maintenance activity: pruning by age, in one transaction."""

from __future__ import annotations

from temporalio import activity

from activities.deps import Deps
from contracts.mirror import DeleteOldMirrorRowsInput, DeleteOldMirrorRowsResult
from db.repositories.mirror import MirrorRepository
from db.uow import unit_of_work


class MirrorActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._mirror = MirrorRepository()

    @activity.defn(name="mirror_prune")
    async def prune(self, input: DeleteOldMirrorRowsInput) -> DeleteOldMirrorRowsResult:
        """Delete runs closed before the cutoff (their steps, timers and history go with them) and
        attempts started before it. Idempotent by nature: a retry finds nothing left to delete."""
        async with unit_of_work(self._sessions) as session:
            deleted = await self._mirror.prune(input.cutoff, session=session)
        activity.logger.info("mirror pruned before %s: %s", input.cutoff, deleted)
        return DeleteOldMirrorRowsResult(
            executions_deleted=deleted["executions"], attempts_deleted=deleted["job_attempts"]
        )
