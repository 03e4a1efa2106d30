"""PostgreSQL killed, restarted or away while pipelines run: no run fails for it, rows stay in agreement.

These tests stop and kill a PostgreSQL of their own (one cluster for the module, its tables
emptied before each test), so the session's database, which every other test uses, is never
touched. Temporal and the sandbox are the session's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from temporalio.client import Client

from activities.deps import Deps
from client.discussions import start_discussion
from contracts.discussions import DiscussionInput, discussion_id_for
from core.settings import Settings
from db import admin
from db.availability import database_answers, is_lost_connection
from db.engine import async_url, create_engine, create_sessionmaker
from db.models.discussions import Job
from db.repositories.discussions import DiscussionRepository, JobRepository, SourceConfigRepository
from db.stores.discussions import DiscussionStore
from db.uow import unit_of_work
from integrations.errors import RetryableIntegrationError
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from stack.postgres import EmbeddedPostgres, remove_cluster
from stack.processes import free_port
from worker import build_worker
from workflows.policies import OUTSIDE_CALL

CHECKOUT = "C0PRODUCT:1718010000.000100"  # the sandbox's thread with four action items
discussions, jobs = DiscussionRepository(), JobRepository()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL for this module alone: its tests kill and stop it. Durable (not `fast`): a
    killed server keeps what it committed, as a production one does."""
    root = Path(tempfile.mkdtemp(prefix="intake-test-outage-pg-"))
    server = EmbeddedPostgres(root / "data")
    try:
        admin.migrate(server.start())
        yield server
    finally:
        server.stop()
        remove_cluster(root)


@pytest.fixture
async def own_engine(own_postgres: EmbeddedPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_postgres.url, pool_size=4)
    await admin.reset(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def observer(own_postgres: EmbeddedPostgres) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions for the test's own reads: a connection per session (none pooled to die)."""
    engine = create_async_engine(async_url(own_postgres.url), poolclass=NullPool)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def own_deps(settings: Settings, own_postgres: EmbeddedPostgres, own_engine: AsyncEngine) -> AsyncIterator[Deps]:
    own = settings.model_copy(update={"database_url": own_postgres.url})
    services = build_clients(own)
    yield Deps(settings=own, engine=own_engine, services=services)
    await services.aclose()


async def own_team(engine: AsyncEngine) -> str:
    team_id = f"team-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await SourceConfigRepository().ensure(
            session=session,
            team_id=team_id,
            source_type="slack",
            name="slack",
            notion_database_id=admin.DEMO_NOTION_DATABASE_ID,
        )
    return team_id


async def kill_and_restart(server: EmbeddedPostgres) -> None:
    """SIGKILL the postmaster (every connection is cut), then start the cluster again."""
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)


async def job_and_discussion(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, discussion_id: uuid.UUID
) -> tuple[str, str]:
    async with sessions() as session:
        job = await jobs.find_by_id(job_id, session=session)
        discussion = await discussions.find_by_id(discussion_id, session=session)
    assert job is not None and discussion is not None
    return job.status, discussion.status


# -- item: a lost connection is no refused job update ---------------------------------------------


async def test_only_a_lost_connection_counts_as_one(engine: AsyncEngine) -> None:
    """A refused statement, an outside service's classified error and an OSError of our own code
    are not lost connections; a connection refused by an absent server is one (dead pooled
    connections: the tests below)."""
    with pytest.raises(DBAPIError) as refused:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1/0"))
    assert not is_lost_connection(refused.value)
    outside = RetryableIntegrationError("no answer", service="sheets", operation="append")
    outside.__cause__ = ConnectionResetError("reset by peer")
    assert not is_lost_connection(outside)
    try:
        Path("/nonexistent/intake").read_text()
    except OSError as err:
        assert not is_lost_connection(err)

    closed = create_engine(f"postgresql://postgres@127.0.0.1:{free_port('127.0.0.1')}/intake", pool_size=1)
    try:
        with pytest.raises(OSError) as no_server:
            async with closed.connect():
                pass
        assert is_lost_connection(no_server.value)
        assert not await database_answers(closed)
    finally:
        await closed.dispose()


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_a_connection_lost_between_the_stores_statements_leaves_job_and_discussion_in_agreement(
    own_postgres: EmbeddedPostgres,
    own_engine: AsyncEngine,
    observer: async_sessionmaker[AsyncSession],
    outcome: str,
) -> None:
    """PostgreSQL is killed after the stage was read: the job + discussion statement meets a dead pooled
    connection. That is no refusal of the job update: finishing fails whole (nothing is finished
    alone on a fresh connection), and finishing again once the database is back finishes both."""
    store = DiscussionStore(own_engine)
    team = await own_team(own_engine)
    job_id, discussion_id = uuid.uuid4(), discussion_id_for(team, "slack", CHECKOUT)
    await store.open(
        job_id=job_id,
        discussion_id=discussion_id,
        valid=True,
        team_id=team,
        source_type="slack",
        source_thread_id=CHECKOUT,
        workflow_id=f"wf-{job_id}",
        workflow_run_id=str(job_id),
        job_metadata={},
        title="checkout",
        content="",
    )
    assert await store.view(discussion_id, job_id=job_id, stage="notification") is not None

    async def finish() -> None:
        if outcome == "completed":
            await store.complete(discussion_id, job_id=job_id, task_ids=[])
        else:
            await store.fail(
                job_id, discussion_id=discussion_id, stage="notification", error="boom", error_stack="boom"
            )

    await kill_and_restart(own_postgres)  # the connection the store used stays in the pool, dead
    with pytest.raises(DBAPIError) as lost:
        await finish()
    assert is_lost_connection(lost.value)
    assert await job_and_discussion(observer, job_id, discussion_id) == ("processing", "processing")

    await finish()  # the activity's next run, the database answering
    assert await job_and_discussion(observer, job_id, discussion_id) == (outcome, outcome)
    async with observer() as session:
        job = await jobs.find_by_id(job_id, session=session)
    assert job is not None and job.stage == "notification" and job.completed_at is not None


async def test_postgres_killed_while_notifying_still_completes_job_and_discussion_once(
    client: Client,
    task_queue: str,
    own_postgres: EmbeddedPostgres,
    own_engine: AsyncEngine,
    own_deps: Deps,
    observer: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """The notification stage has read its discussion and is replying in Slack when PostgreSQL is
    killed and comes back: the run completes with its job and discussion completed, one reply."""
    team = await own_team(own_engine)
    # The reply takes long enough for PostgreSQL to be killed and recover meanwhile (seconds).
    await sandbox.set_fault("slack", "chat.postMessage", latency_ms=12_000)
    deps = dataclasses.replace(
        own_deps, services=build_clients(own_deps.settings.model_copy(update={"outside_call_timeout": 30.0}))
    )
    try:
        async with build_worker(client, deps, task_queue=task_queue):
            handle = await start_discussion(
                client,
                DiscussionInput(team_id=team, source_type="slack", source_thread_id=CHECKOUT),
                task_queue=task_queue,
            )
            await until(lambda: stage_of(observer, team), "notification")  # stage 6 read its discussion
            await kill_and_restart(own_postgres)
            assert await sandbox.call_count("slack", "chat.postMessage") == 0  # still replying
            result = await handle.result()
    finally:
        await deps.services.aclose()

    assert await job_and_discussion(observer, uuid.UUID(result.job_id), uuid.UUID(result.discussion_id)) == (
        "completed",
        "completed",
    )
    assert len(await sandbox.created("slack", "messages")) == 1


async def stage_of(sessions: async_sessionmaker[AsyncSession], team: str) -> str | None:
    async with sessions() as session:
        job = await jobs.find_one(Job.team_id == team, session=session)
    return job.stage if job is not None else None


async def until(read: Any, wanted: Any, *, timeout: float = 60.0) -> None:
    """Poll `read()` until it returns `wanted` (the test fails after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while (value := await read()) != wanted:
        assert time.monotonic() < deadline, f"still {value!r}, waiting for {wanted!r}"
        await asyncio.sleep(0.05)


# -- item: an outage of the database is no reason to give up a run ----------------------------------


def outside_call_budget() -> float:
    """Seconds of backoff the outside-call policy waits over all its attempts."""
    policy = OUTSIDE_CALL["retry_policy"]
    assert policy.maximum_interval is not None
    cap = policy.maximum_interval.total_seconds()
    waits = [
        policy.initial_interval.total_seconds() * policy.backoff_coefficient**n
        for n in range(policy.maximum_attempts - 1)
    ]
    return float(sum(min(wait, cap) for wait in waits))


async def test_runs_in_flight_outlive_a_database_outage_longer_than_the_outside_call_budget(
    client: Client,
    task_queue: str,
    own_postgres: EmbeddedPostgres,
    own_engine: AsyncEngine,
    own_deps: Deps,
    observer: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """Runs are building their threads when PostgreSQL stops; more runs start while it is away; it
    comes back after longer than the outside calls' retries would last. Every run completes, with
    its job and discussion completed and its reply made once."""
    outage = outside_call_budget() + 9
    team = await own_team(own_engine)
    threads = [
        await sandbox.post_slack_thread(
            "C0PRODUCT", [("U0ALICE", f"outage thread {n}: ship it"), ("U0BOB", "Bob to write the rollout plan")]
        )
        for n in range(6)
    ]
    await sandbox.set_fault("slack", "conversations.replies", latency_ms=1000)

    def payload(thread: str) -> DiscussionInput:
        return DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread)

    async def building() -> int:
        async with observer() as session:
            return await jobs.count(Job.team_id == team, Job.stage == "thread_building", session=session)

    async with build_worker(client, own_deps, task_queue=task_queue):
        handles = [await start_discussion(client, payload(thread), task_queue=task_queue) for thread in threads[:4]]
        await until(building, 4)
        stopped = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        handles += [await start_discussion(client, payload(thread), task_queue=task_queue) for thread in threads[4:]]
        await asyncio.sleep(outage)
        await asyncio.to_thread(own_postgres.start)
        back = time.monotonic()
        results = await asyncio.gather(*(handle.result() for handle in handles))
        done = time.monotonic()
    print(
        f"database away {back - stopped:.1f} s (outside-call budget {outside_call_budget():.0f} s); "
        f"every run completed {done - back:.1f} s after it came back"
    )

    for result in results:
        assert await job_and_discussion(observer, uuid.UUID(result.job_id), uuid.UUID(result.discussion_id)) == (
            "completed",
            "completed",
        )
    replies = await sandbox.created("slack", "messages")
    assert sorted(reply["thread_ts"] for reply in replies) == sorted(thread.split(":")[1] for thread in threads)
