"""The whole embedded stack for `intake up` and the demo.

Starts, on 127.0.0.1: PostgreSQL (data kept in the state dir), the Temporal dev
server with its Web UI (workflow state kept in a SQLite file), the sandbox,
migrations, and the worker. Records what runs where in `<state_dir>/stack.json`
for other commands, watches the children, and stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StackError
from core.state import StackState, clear_state, read_state, write_state
from db import admin
from stack.postgres import EmbeddedPostgres
from stack.processes import free_port, kill_stale, stop_process_group, wait_for_port
from stack.temporal import TemporalDevServer

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Seconds `intake up` waits for its worker to poll the task queue.
WORKER_POLL_TIMEOUT = 60.0


@dataclass
class StackConfig:
    state_dir: Path = Path(".intake")
    postgres_port: int | None = None
    temporal_port: int | None = None
    ui_port: int | None = None
    sandbox_port: int | None = None
    api_port: int | None = None
    task_queue: str = "intake"
    namespace: str = "default"
    worker: bool = True
    sandbox: bool = True
    api: bool = True


@dataclass
class Child:
    """A process we started and watch: its name, its handle, its log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class EmbeddedStack:
    config: StackConfig
    say: Callable[[str], None] = print
    state: StackState | None = field(default=None, init=False)
    _postgres: EmbeddedPostgres | None = field(default=None, init=False)
    _temporal: TemporalDevServer | None = field(default=None, init=False)
    _children: list[Child] = field(default_factory=list, init=False)

    @property
    def logs(self) -> Path:
        return self.config.state_dir / "logs"

    def start(self) -> StackState:
        """Start everything, or stop what was started and raise StackError."""
        cfg = self.config
        cfg.state_dir = cfg.state_dir.resolve()
        running = read_state(cfg.state_dir)
        if running is not None:
            raise StackError(
                f"an intake stack already runs from {cfg.state_dir} (pid {running.owner_pid}); "
                "use it, or stop it with `intake down`"
            )
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackState:
        cfg = self.config
        started = time.monotonic()

        self._postgres = EmbeddedPostgres(
            cfg.state_dir / "postgres", port=cfg.postgres_port, log_path=self.logs / "postgres.log"
        )
        database_url = self._postgres.start()
        self.say(f"PostgreSQL   {database_url}")

        self._temporal = TemporalDevServer(
            db_file=cfg.state_dir / "temporal.db",
            log_path=self.logs / "temporal.log",
            port=cfg.temporal_port,
            ui_port=cfg.ui_port,
            namespace=cfg.namespace,
        )
        temporal_address = self._temporal.start()
        self.say(f"Temporal     {temporal_address} (namespace {cfg.namespace})")
        self.say(f"Temporal UI  {self._temporal.ui_url}")

        admin.migrate(database_url)
        self.say("migrations   applied")

        sandbox_url = None
        if cfg.sandbox:
            port = cfg.sandbox_port or free_port(HOST)
            self._spawn("sandbox", ["-m", "sandbox", "--host", HOST, "--port", str(port)], {})
            wait_for_port(
                HOST,
                port,
                timeout=20,
                name="sandbox",
                process=self._children[-1].process,
                log_path=self._children[-1].log_path,
            )
            sandbox_url = f"http://{HOST}:{port}"
            self.say(f"sandbox      {sandbox_url}")

        self.state = StackState(
            database_url=database_url,
            temporal_address=temporal_address,
            temporal_namespace=cfg.namespace,
            temporal_ui_url=self._temporal.ui_url,
            sandbox_url=sandbox_url,
            owner_pid=os.getpid(),
        )
        env = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": cfg.namespace,
            "INTAKE_TASK_QUEUE": cfg.task_queue,
            "INTAKE_STATE_DIR": str(cfg.state_dir),
            "TEMPORAL_UI_URL": self._temporal.ui_url,
        }
        if sandbox_url:
            env["SANDBOX_URL"] = sandbox_url
        if cfg.api:
            port = cfg.api_port or free_port(HOST)
            api_url = f"http://{HOST}:{port}"
            self._spawn("api", ["-m", "api", "--host", HOST, "--port", str(port)], {**env, "INTAKE_API_URL": api_url})
            api = self._children[-1]
            wait_for_port(HOST, port, timeout=30, name="API", process=api.process, log_path=api.log_path)
            self.state.api_url = api_url
            self.say(f"API          {api_url} (docs {api_url}/docs)")
        if cfg.worker:
            self._spawn("worker", ["-m", "worker"], env)
            asyncio.run(self._wait_for_poller(temporal_address))
            self.say(f"worker       polling task queue {cfg.task_queue!r}")

        self.state.pids = self._pids()
        write_state(cfg.state_dir, self.state)
        self.say(f"ready in {time.monotonic() - started:.1f}s; logs in {self.logs}")
        return self.state

    def crashed(self) -> str | None:
        """A line about the first child that died on its own, or None while all run."""
        for child in self._children:
            code = child.process.poll()
            if code is not None:
                return f"{child.name} exited with code {code}; see {child.log_path}"
        if self._temporal is not None and self._temporal.process is not None:
            code = self._temporal.process.poll()
            if code is not None:
                return f"Temporal dev server exited with code {code}; see {self._temporal.log_path}"
        if self._postgres is not None and self._postgres.running_pid() is None:
            return f"PostgreSQL stopped; see {self._postgres.log_path}"
        return None

    def stop(self) -> None:
        """Stop every process this stack started, newest first."""
        for child in reversed(self._children):
            code = stop_process_group(child.process)
            (self.logs / f"{child.name}.pid").unlink(missing_ok=True)
            log.debug("%s stopped (code %s)", child.name, code)
        self._children.clear()
        if self._temporal is not None:
            self._temporal.stop()
            self._temporal = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self.state is not None:
            clear_state(self.config.state_dir)
            self.state = None

    # -- internals ---------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        pid_file = self.logs / f"{name}.pid"
        # A child of an earlier `intake up` that was killed without cleaning up
        # (recognised by its pid file and its `-m module` in the command line).
        kill_stale(pid_file, " ".join(args[:2]))
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, *args],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,
            )
        pid_file.write_text(str(process.pid))
        self._children.append(Child(name, process, log_path))

    def _pids(self) -> dict[str, int]:
        pids = {child.name: child.process.pid for child in self._children}
        if self._temporal is not None and self._temporal.process is not None:
            pids["temporal"] = self._temporal.process.pid
        if self._postgres is not None and (pid := self._postgres.running_pid()) is not None:
            pids["postgres"] = pid
        return pids

    async def _wait_for_poller(self, address: str) -> None:
        from stack.pollers import has_poller

        worker = self._children[-1]
        try:
            async with asyncio.timeout(WORKER_POLL_TIMEOUT):
                while True:
                    if worker.process.poll() is not None:
                        raise StackError(
                            f"the worker exited with code {worker.process.returncode}; see {worker.log_path}"
                        )
                    if await has_poller(address, self.config.namespace, self.config.task_queue):
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise StackError(
                f"the worker did not poll {self.config.task_queue!r} within {WORKER_POLL_TIMEOUT:.0f}s"
            ) from None


def stop_running(state_dir: Path, timeout: float = 30) -> bool:
    """`intake down`: ask the `intake up` that owns `state_dir` to stop, and wait for it.

    Returns False when no stack was running.
    """
    import signal

    state = read_state(state_dir.resolve())
    if state is None:
        return False
    os.kill(state.owner_pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_state(state_dir.resolve()) is None:
            return True
        time.sleep(0.2)
    raise StackError(f"the stack (pid {state.owner_pid}) did not stop within {timeout:.0f}s")
