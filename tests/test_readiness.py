"""Processes wait for PostgreSQL and Temporal at start (client/readiness.py), with one line per
wait and a deadline, instead of crashing when they start first."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from client.readiness import DependencyUnavailableError, wait_for_dependencies
from core.settings import Settings
from db.engine import create_engine
from stack.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


async def test_answering_dependencies_are_not_waited_for(settings: Settings, engine: AsyncEngine) -> None:
    said: list[str] = []
    ready = await wait_for_dependencies(settings, engine=engine, say=said.append)
    assert ready.client is not None and ready.client.namespace == settings.temporal_namespace
    assert said == []


async def test_a_namespace_made_later_is_waited_for_with_one_line(settings: Settings, client: Client) -> None:
    """The worker starts before the namespace step of the topology has run: it waits, then goes on."""
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    said: list[str] = []
    own = settings.model_copy(update={"temporal_namespace": namespace})
    waiting = asyncio.create_task(wait_for_dependencies(own, say=said.append, deadline_seconds=60))
    await asyncio.sleep(1.5)
    assert not waiting.done() and len(said) == 1
    assert said[0].startswith(f"waiting for Temporal at {settings.temporal_address} (namespace {namespace}): ")
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace,
            workflow_execution_retention_period=Duration(seconds=int(timedelta(days=1).total_seconds())),
        )
    )
    ready = await waiting
    assert ready.client is not None and ready.client.namespace == namespace
    assert len(said) == 2 and said[1].startswith(
        f"Temporal at {settings.temporal_address} (namespace {namespace}) answers"
    )


async def test_a_database_that_never_answers_is_given_up_on_at_the_deadline(settings: Settings) -> None:
    url = f"postgresql://intake:hunter2@127.0.0.1:{free_port()}/intake"
    own = settings.model_copy(update={"database_url": url})
    engine = create_engine(url, pool_size=1, connect_timeout=1)
    said: list[str] = []
    try:
        with pytest.raises(DependencyUnavailableError) as raised:
            await wait_for_dependencies(own, engine=engine, say=said.append, deadline_seconds=1.5)
    finally:
        await engine.dispose()
    assert len(said) == 1 and said[0].startswith("waiting for PostgreSQL at postgresql://intake:***@127.0.0.1")
    assert "did not answer within" in str(raised.value) and "hunter2" not in str(raised.value) + said[0]


def test_a_worker_started_before_its_database_says_so_and_exits_cleanly_at_the_deadline(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://intake:hunter2@127.0.0.1:{free_port()}/intake",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "INTAKE_WAIT_TIMEOUT": "1",
        "INTAKE_STATE_DIR": str(tmp_path),
        "INTAKE_LOG_FORMAT": "text",
    }
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 2, lines
    assert "waiting for PostgreSQL at postgresql://intake:***@" in lines[0]
    assert "worker not started: PostgreSQL at" in lines[1] and "did not answer within" in lines[1]
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize("service", ["postgres closed port", "postgres no such database", "temporal closed port"])
def test_a_command_that_cannot_reach_postgres_or_temporal_says_which_in_one_line_and_exits_3(
    service: str, database_url: str, tmp_path: Path
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    database = {
        "postgres closed port": f"postgresql://intake:hunter2@{closed}/intake",
        "postgres no such database": database_url.rsplit("/", 1)[0] + "/no_such_database",
    }.get(service, database_url)
    command = ["schedules", "list"] if service.startswith("temporal") else ["ingest", "status", "alice"]
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": closed,
        "INTAKE_STATE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    expected = {
        "postgres closed port": "error: cannot connect to PostgreSQL at postgresql://intake:***@",
        "postgres no such database": 'database "no_such_database" does not exist',
        "temporal closed port": f"error: cannot connect to Temporal at {closed}: Connection refused",
    }[service]
    assert expected in line, line
