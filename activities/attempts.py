"""The mirror's attempt records (job_attempts): one row per activity attempt, from the worker.

Temporal's history keeps only the last attempt of a retried activity (one started event with
its attempt number, one failure), so the worker that runs each attempt records it: the
`RecordAttempts` interceptor (activities/interceptors.py) calls `started` and `ended` around
every attempt, and this recorder writes them.

Off the activity's path: `started` / `ended` only put a row in memory; a background task
writes what is pending every `interval` seconds in one statement (an idempotent upsert on
(workflow id, run id, activity id, attempt): a row written twice is one row, an ended attempt is
never set back to running), and `aclose` writes the rest at worker shutdown. A write that fails
(the database is away) keeps its rows for the next round. A worker killed before it could write
an attempt's end leaves it `running`: the mirror feed settles it to `lost` / `timed_out` once
history shows the activity moved on (MirrorRepository.settle_attempts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.repositories.mirror import MirrorRepository
from db.uow import unit_of_work

log = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"  # as client/mirror_projection.py names local activities' steps
ERROR_LIMIT = 2000
# Rows kept while the database is away; beyond it the oldest are dropped (with a warning).
MAX_PENDING = 50_000


def default_identity() -> str:
    """The worker identity the Temporal SDK uses by default (pid@host), as history shows it."""
    return f"{os.getpid()}@{socket.gethostname()}"


def error_text(err: BaseException) -> str:
    kind = err.type if isinstance(err, ApplicationError) and err.type else type(err).__name__
    return f"{kind}: {err}"[:ERROR_LIMIT]


class AttemptRecorder:
    """Buffers attempt rows and writes them in small batches, in the background."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, identity: str | None = None, interval: float = 0.2
    ) -> None:
        self.sessions = sessions
        self.identity = identity or default_identity()
        self.interval = interval
        self.enabled = True
        self._pending: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._repo = MirrorRepository()

    @staticmethod
    def _key(info: activity.Info) -> tuple[str, str, str, int]:
        activity_id = f"{LOCAL_PREFIX}{info.activity_id}" if info.is_local else info.activity_id
        return (info.workflow_id or "", info.workflow_run_id or "", activity_id, info.attempt)

    def started(self, info: activity.Info) -> None:
        if not self.enabled:
            return
        key = self._key(info)
        self._put(
            key,
            {
                "workflow_id": key[0],
                "run_id": key[1],
                "activity_id": key[2],
                "attempt": key[3],
                "activity_type": info.activity_type,
                "workflow_type": info.workflow_type or "",
                "local": info.is_local,
                "worker_identity": self.identity,
                "started_at": datetime.now(UTC),
                "ended_at": None,
                "outcome": "running",
                "error": None,
            },
        )

    def ended(self, info: activity.Info, outcome: str, error: str | None = None) -> None:
        if not self.enabled:
            return
        key = self._key(info)
        row = self._pending.get(key)
        if row is None:  # its start is written already (or was never seen): write the end alone
            self.started(info)
            row = self._pending[key]
        row.update(outcome=outcome, error=error, ended_at=datetime.now(UTC))

    def _put(self, key: tuple[str, str, str, int], row: dict[str, Any]) -> None:
        if len(self._pending) >= MAX_PENDING:
            dropped = next(iter(self._pending))
            del self._pending[dropped]
            log.warning("attempt records pile up (the database is away?): dropped %s", dropped)
        self._pending[key] = row
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._writer(), name="intake attempt recorder")

    async def _writer(self) -> None:
        """Write every `interval` while rows are pending; end when nothing is left."""
        while self._pending:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> bool:
        """Write the pending rows now; False (rows kept) when the write failed."""
        if not self._pending:
            return True
        rows, self._pending = self._pending, {}
        try:
            async with unit_of_work(self.sessions) as session:
                await self._repo.record_attempts(list(rows.values()), session=session)
        except Exception as err:
            log.warning("could not write %d attempt records (%s: %s); trying again", len(rows), type(err).__name__, err)
            # Rows that arrived meanwhile are newer: they win over the ones put back.
            self._pending = {**rows, **self._pending}
            return False
        return True

    async def aclose(self, *, tries: int = 25) -> None:
        """Write what is pending (at worker shutdown), trying up to `tries` times."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for _ in range(tries):
            if await self.flush():
                return
            await asyncio.sleep(self.interval)
