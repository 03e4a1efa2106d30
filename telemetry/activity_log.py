"""One log line per activity attempt, from a worker interceptor: what ran, where, how it ended.

`ActivityLog` wraps every activity the worker runs and logs, when the attempt ends, its type,
attempt, duration and outcome (`completed`, or `failed: ErrorType`; the error's message is left
out, since an outside service's error can quote what it was sent). The formatter of
telemetry/logs.py adds the workflow id, run id, activity id and this worker's identity, so the
logs tell which worker ran which activity of which run; nothing of the activity's input or
result is logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

log = logging.getLogger("intake.activity")


class ActivityLog(Interceptor):
    """The worker interceptor that logs each activity attempt's end."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Logged(next)


class _Logged(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.perf_counter()
        try:
            result = await super().execute_activity(input)
        except BaseException as err:
            log.warning(
                "activity %s attempt %d failed after %.0f ms: %s",
                info.activity_type,
                info.attempt,
                (time.perf_counter() - started) * 1000,
                type(err).__name__,
            )
            raise
        log.info(
            "activity %s attempt %d completed in %.0f ms",
            info.activity_type,
            info.attempt,
            (time.perf_counter() - started) * 1000,
        )
        return result
