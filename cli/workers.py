"""`intake worker --count N`: N worker processes on one host, started and stopped together.

Each child is a `python -m worker` of its own (its own event loop, core, Temporal identity and
database pool), all polling the same task queue: Temporal spreads the tasks over them, as it does
over the replicas of a deployment. SIGTERM or SIGINT is passed on to every child, which stops
gracefully (worker.py). A child that dies (a non-zero exit, a signal other than SIGTERM) is
reported in one line and started again, after 1 s, then 2, 4, ... up to 30 s while it keeps
dying (a child that ran a minute starts again at 1 s); one that keeps failing within seconds of
its start (a setting it cannot work with) is given up on after five tries in a row, and the
others are stopped. A child stopped by SIGTERM, or exiting 0, stays stopped. When
OTEL_EXPORTER_PROMETHEUS_PORT is set, child i serves its metrics on that port + i.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from cli.output import err_console
from core.settings import Settings

# Seconds the children get to finish after SIGTERM before they are killed.
STOP_TIMEOUT = 60.0
# Restarts: the first delay, its cap, how long a run resets it, and when a child is given up on.
RESTART_DELAY, RESTART_DELAY_CAP = 1.0, 30.0
HEALTHY_AFTER = 60.0
EARLY_FAILURE_WITHIN, EARLY_FAILURES_TO_GIVE_UP = 10.0, 5


@dataclass
class Child:
    """One worker slot: its current process, and how it has been doing."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = RESTART_DELAY
    early_failures: int = 0
    restart_at: float | None = None
    done: bool = False  # stopped for good (exited 0 or by SIGTERM, or given up on)
    codes: list[int] = field(default_factory=list)


def _died(code: int) -> bool:
    return code not in (0, -signal.SIGTERM)


def _exit(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def run_workers(count: int, *, restart: bool = True) -> int:
    """Run `count` worker processes until they all stop; 0 when every one stopped cleanly."""
    settings = Settings()
    children = [Child(index) for index in range(count)]
    stopping = False

    def start(child: Child) -> None:
        env = {**os.environ, "INTAKE_WORKER_INDEX": str(child.index)}
        if settings.metrics_port is not None:
            env["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(settings.metrics_port + child.index)
        child.process = subprocess.Popen([sys.executable, "-m", "worker"], env=env, stdin=subprocess.DEVNULL)
        child.started_at, child.restart_at = time.monotonic(), None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        start(child)
    pids = [c.process.pid for c in children if c.process is not None]
    err_console.print(f"{count} workers on task queue {settings.task_queue!r}: pids {pids}")

    failed = False
    deadline: float | None = None
    while True:
        now = time.monotonic()
        for child in children:
            process = child.process
            if process is not None and (code := process.poll()) is not None:
                child.process = None
                child.codes.append(code)
                if stopping or not _died(code):
                    child.done = True
                    failed = failed or _died(code)  # killed at the end of the stop timeout
                    continue
                failed = True
                ran = now - child.started_at
                child.early_failures = child.early_failures + 1 if ran < EARLY_FAILURE_WITHIN else 0
                if ran >= HEALTHY_AFTER:
                    child.delay = RESTART_DELAY
                said = f"worker {child.index} (pid {process.pid}) {_exit(code)} after {ran:.0f}s"
                if not restart:
                    err_console.print(said)
                    child.done = True
                elif child.early_failures >= EARLY_FAILURES_TO_GIVE_UP:
                    err_console.print(
                        f"{said}: it failed within {EARLY_FAILURE_WITHIN:.0f}s of its start "
                        f"{child.early_failures} times in a row, so it is not started again; stopping the others"
                    )
                    child.done = True
                    stop(signal.SIGTERM, None)
                else:
                    err_console.print(f"{said}; starting it again in {child.delay:.0f}s")
                    child.restart_at = now + child.delay
                    child.delay = min(child.delay * 2, RESTART_DELAY_CAP)
            elif process is None and child.restart_at is not None and not stopping and now >= child.restart_at:
                start(child)
                assert child.process is not None
                err_console.print(f"worker {child.index} started again: pid {child.process.pid}")
        if stopping:
            for child in children:
                child.restart_at = None
                if child.process is None:
                    child.done = True
            deadline = deadline or now + STOP_TIMEOUT
            if now > deadline:
                for child in children:
                    if child.process is not None and child.process.poll() is None:
                        child.process.kill()
        if all(child.done for child in children):
            break
        time.sleep(0.2)
    return 1 if failed else 0
