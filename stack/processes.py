"""Small process helpers: free ports, waiting for a port, stopping a process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from core.errors import StackError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float,
    name: str,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Block until something accepts connections on host:port, or raise StackError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            raise StackError(
                f"{name} exited with code {process.returncode} before listening on {host}:{port}" + log_tail(log_path)
            )
        time.sleep(0.05)
    raise StackError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s" + log_tail(log_path))


def log_tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_path} ---\n" + "\n".join(tail)


def stop_process_group(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> int | None:
    """SIGTERM the child's process group, then SIGKILL what is left after `timeout` seconds."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(5)
    # Children the process left behind in its group go too.
    _signal_group(process.pid, signal.SIGKILL)
    return process.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_stale(pid_file: Path, marker: str) -> bool:
    """Kill a process left by an earlier run (its pid recorded in `pid_file`, `marker` in its command line).

    The marker check keeps us from killing an unrelated process that reused the pid.
    Returns True when something was killed.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    try:
        proc = psutil.Process(pid)
        if marker not in " ".join(proc.cmdline()):
            return False
        procs = [proc, *proc.children(recursive=True)]
        for each in procs:
            each.terminate()
        _, alive = psutil.wait_procs(procs, timeout=5)
        for each in alive:
            each.kill()
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
