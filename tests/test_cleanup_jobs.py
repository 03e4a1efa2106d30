"""Job cleanup: a daily Schedule deletes finished jobs past retention, and nothing else."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleOverlapPolicy

from client.schedules import SCHEDULES, ScheduleOptions, apply_schedules
from contracts.discussions import CleanupJobsInput
from db.repositories.discussions import JobRepository
from db.uow import unit_of_work
from tests.helpers import intake_cli, record_history
from workflows.discussions import CleanupJobsWorkflow

jobs = JobRepository()


async def seed_jobs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, uuid.UUID]:
    now = datetime.now(UTC)
    rows = {
        "old_completed": ("completed", now - timedelta(days=40)),
        "old_failed": ("failed", now - timedelta(days=31)),
        "recent_completed": ("completed", now - timedelta(days=2)),
        "running": ("processing", None),
    }
    made = {}
    async with unit_of_work(sessions) as session:
        for name, (status, completed_at) in rows.items():
            job = await jobs.create(
                session=session,
                team_id="t1",
                source_type="slack",
                status=status,
                completed_at=completed_at,
                workflow_id="wf",
                workflow_run_id=name,
            )
            made[name] = job.id
    return made


async def test_cleanup_deletes_old_finished_jobs_and_returns_their_ids(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    made = await seed_jobs(sessions)
    async with make_worker():
        handle = await client.start_workflow(
            CleanupJobsWorkflow.run, CleanupJobsInput(), id=f"cleanup-{uuid.uuid4()}", task_queue=task_queue
        )
        result = await handle.result()
        again = await client.execute_workflow(
            CleanupJobsWorkflow.run, CleanupJobsInput(), id=f"cleanup-{uuid.uuid4()}", task_queue=task_queue
        )

    assert sorted(result.deleted_job_ids) == sorted(str(made[k]) for k in ("old_completed", "old_failed"))
    assert again.deleted_job_ids == []
    async with sessions() as session:
        assert sorted(j.workflow_run_id for j in await jobs.find_many(session=session)) == [
            "recent_completed",
            "running",
        ]
    await record_history(handle, "cleanup_jobs")


async def test_schedules_apply_is_repeatable_and_the_schedule_runs_cleanup(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_jobs(sessions)
    options = ScheduleOptions(task_queue=task_queue, job_retention_days=30)
    try:
        assert await apply_schedules(client, options) == {d.id: "created" for d in SCHEDULES}
        assert await apply_schedules(client, options) == {d.id: "updated" for d in SCHEDULES}
        handle = client.get_schedule_handle("cleanup-jobs")
        described = await handle.describe()
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert described.schedule.spec.intervals[0].every == timedelta(days=1)

        async with make_worker():
            await handle.trigger()
            for _ in range(200):
                async with sessions() as session:
                    if await jobs.count(session=session) == 2:
                        break
                await asyncio.sleep(0.05)
        async with sessions() as session:
            assert await jobs.count(session=session) == 2
    finally:
        for definition in SCHEDULES:
            await client.get_schedule_handle(definition.id).delete()


async def test_schedules_list_shows_what_the_server_runs(client: Client, settings) -> None:
    options = ScheduleOptions(task_queue=settings.task_queue, job_retention_days=30)
    await apply_schedules(client, options)
    try:
        listed = await intake_cli(settings, "schedules", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {row["id"]: row for row in json.loads(listed.stdout)}
        assert rows["cleanup-jobs"]["workflow"] == "CleanupJobsWorkflow"
        assert rows["cleanup-jobs"]["paused"] is False and rows["cleanup-jobs"]["next_run"]
    finally:
        async for entry in await client.list_schedules():
            await client.get_schedule_handle(entry.id).delete()
