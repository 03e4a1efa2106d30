"""HealthCheckWorkflow end to end on real Temporal and real PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.deps import Deps
from activities.health import HealthActivities
from client.health import start_health_check
from contracts.health import RecordHealthCheckInput, RecordHealthCheckResult
from db.models.idempotency import IdempotencyKey
from db.repositories.health import HealthCheckRepository
from db.repository import Repository
from tests.helpers import record_history
from worker import all_workflows, workflow_runner

checks = HealthCheckRepository()


async def count_rows(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        return (await checks.count(session=session), await Repository(IdempotencyKey).count(session=session))


async def test_health_check_records_and_confirms_one_row(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with make_worker():
        handle = await start_health_check(client, task_queue=task_queue)
        result = await handle.result()

    assert result.check_id == handle.id
    assert result.database_version.split(".")[0].isdigit()
    assert result.confirmed_at >= result.recorded_at
    async with sessions() as session:
        row = await checks.find_one(session=session, check_id=handle.id)
    assert row is not None and row.id == result.row_id and row.workflow_id == handle.id
    assert await count_rows(sessions) == (1, 1)
    await record_history(handle, "health_check")


async def test_a_retry_after_the_commit_writes_no_second_row(
    client: Client,
    deps: Deps,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The activity commits, then its first attempt fails (as if the worker lost its connection
    before reporting); Temporal retries it, and the retry returns the stored row."""
    real = HealthActivities(deps)
    attempts: list[RecordHealthCheckResult] = []

    @activity.defn(name="health_record")
    async def record_then_fail_once(input: RecordHealthCheckInput) -> RecordHealthCheckResult:
        result = await real.record(input)
        attempts.append(result)
        if activity.info().attempt == 1:
            raise RuntimeError("connection lost after the commit")
        return result

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=all_workflows(),
        activities=[record_then_fail_once, real.confirm],
        workflow_runner=workflow_runner(),
    ):
        handle = await start_health_check(client, task_queue=task_queue)
        result = await handle.result()

    assert len(attempts) == 2
    assert attempts[0] == attempts[1]
    assert result.row_id == attempts[0].id
    assert await count_rows(sessions) == (1, 1)


async def test_the_run_survives_a_worker_restart_mid_run(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = make_worker()
    first_run = asyncio.create_task(first.run())
    handle = await start_health_check(client, task_queue=task_queue, pause_seconds=2)

    # Wait until the first write landed and the workflow sleeps on its timer, then stop the worker.
    for _ in range(200):
        if (await count_rows(sessions))[0] == 1:
            break
        await asyncio.sleep(0.05)
    assert (await count_rows(sessions))[0] == 1
    await first.shutdown()
    await first_run
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    async with make_worker():  # a fresh worker picks the run up from its history
        result = await handle.result()

    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await count_rows(sessions) == (1, 1)
    async with sessions() as session:
        row = await checks.find_by_id(result.row_id, session=session)
    assert row is not None and row.confirmed_at == result.confirmed_at
