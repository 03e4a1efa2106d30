"""`intake worker --count N`: N worker processes on one host, started and stopped together.

Each child is a `python -m worker` of its own (its own event loop, core, Temporal identity and
database pool), all polling the same task queue: Temporal spreads the tasks over them, as it does
over the replicas of a deployment. SIGTERM or SIGINT is passed on to every child, which stops
gracefully (worker.py); a child that dies is reported in one line and the others go on. When
OTEL_EXPORTER_PROMETHEUS_PORT is set, child i serves its metrics on that port + i.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from cli.output import err_console
from core.settings import Settings

# Seconds the children get to finish after SIGTERM before they are killed.
STOP_TIMEOUT = 60.0


def run_workers(count: int) -> int:
    """Run `count` worker processes until they all exit; returns 0 when every one stopped cleanly."""
    settings = Settings()
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        env = {**os.environ, "INTAKE_WORKER_INDEX": str(index)}
        if settings.metrics_port is not None:
            env["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(settings.metrics_port + index)
        children.append(subprocess.Popen([sys.executable, "-m", "worker"], env=env, stdin=subprocess.DEVNULL))
    err_console.print(f"{count} workers on task queue {settings.task_queue!r}: pids {[c.pid for c in children]}")

    reported: set[int] = set()
    failed = False
    deadline: float | None = None
    while any(child.poll() is None for child in children):
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and child.pid not in reported:
                reported.add(child.pid)
                if code != 0:
                    failed = True
                    if not stopping:
                        err_console.print(f"worker {index} (pid {child.pid}) exited with code {code}")
        if stopping:
            deadline = deadline or time.monotonic() + STOP_TIMEOUT
            if time.monotonic() > deadline:
                for child in children:
                    if child.poll() is None:
                        child.kill()
        time.sleep(0.2)
    failed = failed or any(child.returncode not in (0, -signal.SIGTERM) for child in children)
    return 1 if failed else 0
