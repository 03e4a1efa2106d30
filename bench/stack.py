"""A throwaway stack for benchmarks: embedded PostgreSQL (fast settings), the Temporal dev
server, the sandbox as its own process. Everything is stopped and deleted on exit."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db import admin
from stack.postgres import EmbeddedPostgres
from stack.processes import free_port, stop_process_group, wait_for_port
from stack.temporal import OFFLINE_ENV, OFFLINE_FLAGS, temporal_cli
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


@dataclass
class BenchStack:
    database_url: str
    client: Client
    temporal_address: str
    sandbox_url: str
    postgres_pid: int | None
    sandbox_pid: int
    postgres: EmbeddedPostgres | None = None  # to stop, kill or restart it (bench/outages.py)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each part of the stack.

        "worker" is this process (worker, client and benchmark loop); "temporal" the dev
        server; "postgres" the postmaster and its backends; "sandbox" the fake services.
        Take two readings and subtract them to see where a run's CPU went.
        """
        me = psutil.Process()
        used = {"worker": _cpu(me), "temporal": 0.0, "postgres": 0.0, "sandbox": 0.0}
        for child in me.children(recursive=True):
            with suppress(psutil.Error):
                if child.pid == self.sandbox_pid:
                    used["sandbox"] += _cpu(child)
                elif "temporal" in child.name():
                    used["temporal"] += _cpu(child)
        if self.postgres_pid is not None:
            with suppress(psutil.Error):
                # Live backends, and (in the postmaster's children times) those that have exited.
                postmaster = psutil.Process(self.postgres_pid)
                used["postgres"] = _cpu(postmaster, exited_children=True) + sum(
                    _cpu(p) for p in postmaster.children(recursive=True)
                )
        return used


def _cpu(process: psutil.Process, *, exited_children: bool = False) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system + (times.children_user + times.children_system if exited_children else 0.0)


@asynccontextmanager
async def bench_stack(*, durable: bool = False) -> AsyncIterator[BenchStack]:
    """The stack; `durable` keeps PostgreSQL's fsync on (a killed server then loses nothing)."""
    os.environ.update(OFFLINE_ENV)
    root = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    postgres = EmbeddedPostgres(root / "pg", fast=not durable)
    sandbox: subprocess.Popen[bytes] | None = None
    env: WorkflowEnvironment | None = None
    try:
        url = postgres.start()
        await admin.migrate_async(url)
        port = free_port()
        sandbox = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "sandbox", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port, timeout=20, name="sandbox", process=sandbox)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            data_converter=pydantic_data_converter,
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_extra_args=OFFLINE_FLAGS,
        )
        yield BenchStack(
            database_url=url,
            client=env.client,
            temporal_address=env.client.service_client.config.target_host,
            sandbox_url=f"http://127.0.0.1:{port}",
            postgres_pid=postgres.running_pid(),
            sandbox_pid=sandbox.pid,
            postgres=postgres,
        )
    finally:
        if env is not None:
            await env.shutdown()
        if sandbox is not None:
            stop_process_group(sandbox)
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
