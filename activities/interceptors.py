"""What every activity does besides its own work: worker interceptors (registered by worker.py).

`RecordAttempts` (outermost) records every attempt for the mirror's job_attempts
(activities/attempts.py): its start, its end and how it ended, off the activity's path.

`ResilientActivities` wraps each activity the worker runs:

- Errors. The project's errors reach Temporal one way (`activities.errors.as_application_error`):
  typed by class, retryable or not as the class says. No activity translates its own.

- Heartbeats. An activity scheduled with a heartbeat timeout (workflows/policies.py gives the
  long ones ~10 s) heartbeats every third of it for as long as it runs, whatever it is awaiting
  (an outside call, a statement, a wait for the database). A worker that dies stops
  heartbeating, so Temporal retries its activities on another worker after the heartbeat
  timeout instead of waiting out the whole start-to-close timeout. An activity shorter than a
  third of the timeout sends none. Local activities have no heartbeat (a dead worker's workflow
  task times out and another worker runs them again).

- Database outages. When the activity fails because the connection to PostgreSQL is lost
  (`db.availability.is_lost_connection`: refused, reset, a server restart), nothing was decided:
  the interceptor waits, heartbeating, until the database answers again (`database_answers`),
  then runs the activity again within the same attempt. It waits up to DB_OUTAGE_TIMEOUT
  (core/settings.py) and never past the attempt's own start-to-close timeout (the policies allow
  for it); then the attempt fails with the connection error and the activity's retry policy
  decides. So an outage of the database spends none of the attempts the retry policies give to
  outside services. Any other error is raised at once, as the activity raised it.

Running an activity again is safe because every activity is idempotent: its database writes
are keyed upserts, state-guarded updates or `run_once` keys, and its outside writes look for
what an earlier run may have made before they create (`may_have_run_before`), as they do on a
Temporal retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.attempts import AttemptRecorder, error_text
from activities.errors import as_application_error
from core.errors import IntakeError
from db.availability import database_answers, is_lost_connection

log = logging.getLogger(__name__)

# Kept free at the end of an attempt's start-to-close timeout for the run after the wait.
RUN_RESERVE = timedelta(seconds=5)
# Between two probes of an absent database, growing up to the cap.
PROBE_INTERVAL, PROBE_INTERVAL_CAP = 0.25, 2.0


@dataclass
class _Attempt:
    started: float  # time.monotonic() when this worker started the attempt
    runs: int = 0  # runs of the activity body so far in this attempt


_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("intake_activity_attempt", default=None)


def may_have_run_before() -> bool:
    """Whether an earlier run of this activity may have written already: a later Temporal attempt,
    or a run again after a lost database connection within this attempt. Outside writes look
    before they create when this is true."""
    current = _ATTEMPT.get()
    return activity.info().attempt > 1 or (current is not None and current.runs > 0)


def runs_before() -> int:
    """How many runs of the activity body came before this one in the current attempt (0 outside
    the interceptor, e.g. in ActivityEnvironment)."""
    current = _ATTEMPT.get()
    return current.runs if current is not None else 0


def attempt_started() -> float | None:
    """`time.monotonic()` when this worker started the current attempt (None outside the interceptor)."""
    current = _ATTEMPT.get()
    return current.started if current is not None else None


class RecordAttempts(Interceptor):
    """The worker interceptor that tells `recorder` of every activity attempt's start and end."""

    def __init__(self, recorder: AttemptRecorder) -> None:
        self.recorder = recorder

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Recorded(next, self.recorder)

    async def aclose(self) -> None:
        await self.recorder.aclose()


class _Recorded(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, recorder: AttemptRecorder) -> None:
        super().__init__(next)
        self._recorder = recorder

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        self._recorder.started(info)
        try:
            result = await super().execute_activity(input)
        except asyncio.CancelledError:
            self._recorder.ended(info, "cancelled", "cancelled")
            raise
        except BaseException as err:
            self._recorder.ended(info, "failed", error_text(err))
            raise
        self._recorder.ended(info, "completed")
        return result


class ResilientActivities(Interceptor):
    """The worker interceptor: heartbeats and database-outage waits for every activity."""

    def __init__(self, engine: AsyncEngine, *, outage_timeout: float) -> None:
        self.engine = engine
        self.outage_timeout = outage_timeout

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: ResilientActivities) -> None:
        super().__init__(next)
        self._root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        attempt = _Attempt(started=time.monotonic())
        token = _ATTEMPT.set(attempt)
        beating = _heartbeats(info)
        try:
            return await self._run(input, info, attempt)
        except IntakeError as err:
            raise as_application_error(err) from err
        finally:
            if beating is not None:
                beating.cancel()
            _ATTEMPT.reset(token)

    async def _run(self, input: ExecuteActivityInput, info: activity.Info, attempt: _Attempt) -> Any:
        """Run the activity; after a lost database connection, wait for it and run again."""
        outage_started: float | None = None
        pause = 0.0
        while True:
            try:
                return await super().execute_activity(input)
            except Exception as err:
                if not is_lost_connection(err):
                    raise
                now = time.monotonic()
                outage_started = outage_started if outage_started is not None else now
                deadline = outage_started + self._root.outage_timeout
                if info.start_to_close_timeout is not None:
                    deadline = min(
                        deadline, attempt.started + (info.start_to_close_timeout - RUN_RESERVE).total_seconds()
                    )
                activity.logger.warning(
                    "lost the connection to PostgreSQL (%s: %s); waiting up to %.0f s for it to run again",
                    type(err).__name__,
                    err,
                    max(0.0, deadline - now),
                )
                # A database that answers at once (a pooled connection had died) is tried again
                # at once the first time, then with growing pauses, so nothing spins.
                await asyncio.sleep(pause)
                pause = min(max(pause * 2, PROBE_INTERVAL), PROBE_INTERVAL_CAP)
                if not await self._database_back(deadline):
                    activity.logger.warning("PostgreSQL did not answer in time: the attempt fails")
                    raise
                attempt.runs += 1
                activity.logger.info("PostgreSQL answers again: run %d of this attempt", attempt.runs + 1)

    async def _database_back(self, deadline: float) -> bool:
        """Probe until the database answers (True) or the deadline passes (False)."""
        interval = PROBE_INTERVAL
        while True:
            if await database_answers(self._root.engine):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(interval, left))
            interval = min(interval * 2, PROBE_INTERVAL_CAP)


def _heartbeats(info: activity.Info) -> asyncio.Task[None] | None:
    """A task heartbeating every third of the heartbeat timeout while the activity runs."""
    if info.is_local or not info.heartbeat_timeout:
        return None
    interval = info.heartbeat_timeout.total_seconds() / 3

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat()

    return asyncio.create_task(beat(), name=f"heartbeat {info.activity_type} {info.activity_id}")
