"""The Sheets export queue under Temporal: exactly-once rows, backoff to FAILED, quota stops, manual retry.

Runs against the sandbox's Sheets. The tests that would wait out real backoffs
(1 + 2 + 4 + 8 s) run on Temporal's time-skipping test server instead of the
dev server; everything else about them (worker, activities, PostgreSQL,
sandbox) is the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import Deps
from activities.exports import ATTEMPT_MARGIN_SECONDS, ExportActivities
from client.schedules import SCHEDULES, ScheduleOptions
from client.work_orders import (
    retry_failed_exports,
    start_export_drain,
    start_file_ingest,
)
from contracts.exports import ExportDrainInput, ExportJobInput, export_drain_workflow_id
from contracts.work_orders import WorkspaceSpec
from db.models.work_orders import ExportJob
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import WorkOrderRepository, WorkspaceRepository
from db.uow import unit_of_work
from integrations.errors import RetryableIntegrationError
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID, WORK_ORDERS, work_order_pdf
from tests.helpers import record_history
from worker import build_worker
from workflows.exports import EXPORT_ATTEMPT

APPEND, READ = "spreadsheets.values.append", "spreadsheets.values.get"
TEST_SERVER = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "temporal-test-server"
jobs = ExportJobRepository()


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    yield env
    await env.shutdown()


async def queued_work_orders(sessions: async_sessionmaker[AsyncSession], count: int) -> list[uuid.UUID]:
    """Work orders with their export jobs, written as ingestion writes them (no PDFs needed)."""
    async with unit_of_work(sessions) as session:
        workspace, _ = await WorkspaceRepository().get_or_create(
            session=session, slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID
        )
        for order in WORK_ORDERS[:count]:
            work_order, _ = await WorkOrderRepository().get_or_create(
                session=session,
                workspace_id=workspace.id,
                work_order_number=order.number,
                site=order.site,
                facility_manager=order.fm,
                description=order.description,
            )
            await jobs.enqueue(
                session=session, workspace_id=workspace.id, kind="WORK_ORDER", work_order_id=work_order.id
            )
        return [job.id for job in await jobs.find_many(session=session, order_by=[ExportJob.created_at])]


async def all_jobs(sessions: async_sessionmaker[AsyncSession]) -> list[ExportJob]:
    async with sessions() as session:
        return await jobs.find_many(session=session, order_by=[ExportJob.created_at])


async def sheet_numbers(sandbox: SandboxControl) -> list[str]:
    return [row[0] for row in (await sandbox.spreadsheet(SPREADSHEET_ID))["Work Orders"][1:]]


async def test_ingestion_exports_each_work_order_with_one_sheets_call(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    workspace = WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID)
    async with make_worker():
        for order in WORK_ORDERS[:3]:
            path = tmp_path / f"{order.number}.pdf"
            path.write_bytes(work_order_pdf(order))
            await (
                await start_file_ingest(client, path, workspace=workspace, kind="workorder", task_queue=task_queue)
            ).result()
        # Ingestion kicked the one drain of this task queue; it ends when the queue is empty.
        drain = client.get_workflow_handle(export_drain_workflow_id(task_queue))
        await drain.result()
        await record_history(drain, "export_drain")

    assert sorted(await sheet_numbers(sandbox)) == ["WO-10042", "WO-10043", "WO-10044"]
    assert [(j.status, j.attempts, j.last_error) for j in await all_jobs(sessions)] == [("DONE", 1, None)] * 3
    # The happy path costs one Sheets call per job: the append, no read before it.
    assert await sandbox.call_count("sheets", APPEND) == 3
    assert await sandbox.call_count("sheets", READ) == 0


async def test_an_attempt_that_fails_after_the_write_leaves_one_row(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    await queued_work_orders(sessions, 1)
    await sandbox.set_fault("sheets", APPEND, fail_after_write="error", times=1)
    async with make_worker():
        result = await (await start_export_drain(client, task_queue=task_queue)).result()

    assert result.totals.exported == 1
    assert await sheet_numbers(sandbox) == ["WO-10042"]
    [job] = await all_jobs(sessions)
    assert (job.status, job.attempts, job.sheet_row, job.last_error) == ("DONE", 2, 2, None)
    # Attempt 1 appended (and got a 500); attempt 2 read the key column, found the row, appended nothing.
    assert (await sandbox.call_count("sheets", APPEND), await sandbox.call_count("sheets", READ)) == (1, 1)


async def test_a_quota_error_stops_the_drain_until_the_cooldown_passes(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    await queued_work_orders(sessions, 3)
    await sandbox.set_fault("sheets", APPEND, quota_rate=1.0, times=1)
    # Long enough to cover the round trips of the checks below on a loaded machine; every
    # comparison is against the quota call's own time, never the test's clock.
    cooldown = 8.0
    async with make_worker():
        handle = await start_export_drain(
            client, task_queue=task_queue, input=ExportDrainInput(concurrency=1, cooldown_seconds=cooldown)
        )
        for _ in range(600):
            if await handle.query("held"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the drain never held the queue")
        # Held: every open job waits for the end of the cool-down, with the quota error recorded.
        held = await all_jobs(sessions)
        quota_call = next(c for c in await sandbox.calls("sheets") if c["fault"] == "quota")
        assert {j.status for j in held} == {"PENDING"}
        assert all(j.next_attempt_at.timestamp() >= quota_call["at"] + cooldown for j in held)
        assert any("quotaExceeded" in (j.last_error or "") for j in held)
        result = await asyncio.wait_for(handle.result(), 120)  # a bound, not a timing assert

    assert result.totals.quota_stops == 1 and result.totals.exported == 3
    calls = sorted(await sandbox.calls("sheets"), key=lambda c: c["at"])
    assert calls[0]["fault"] == "quota" and calls[0]["status"] == 429
    # Nothing called Sheets during the cool-down; then the remaining jobs were exported.
    assert calls[1]["at"] >= calls[0]["at"] + cooldown
    assert sorted(await sheet_numbers(sandbox)) == ["WO-10042", "WO-10043", "WO-10044"]
    assert {j.status for j in await all_jobs(sessions)} == {"DONE"}


async def test_a_sheets_outage_never_fails_ingestion(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    await sandbox.set_fault("sheets", "*", error_rate=1.0)
    path = tmp_path / "wo.pdf"
    path.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    workspace = WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID)
    drain = client.get_workflow_handle(export_drain_workflow_id(task_queue))
    async with make_worker():
        result = await (
            await start_file_ingest(client, path, workspace=workspace, kind="workorder", task_queue=task_queue)
        ).result()
        assert result.documents[0].outcome == "created"
        # The export's first attempt failed and is mirrored; the drain keeps trying on its own.
        for _ in range(200):
            [job] = await all_jobs(sessions)
            if job.last_error:
                break
            await asyncio.sleep(0.05)
        assert job.status in ("PENDING", "PROCESSING") and "HTTP 500" in (job.last_error or "")
        await drain.terminate("test over")


async def test_five_failed_attempts_mark_the_job_failed_and_a_retry_starts_a_fresh_round(
    time_skipping: WorkflowEnvironment,
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    [job_id] = await queued_work_orders(sessions, 1)
    await sandbox.set_fault("sheets", APPEND, error_rate=1.0)
    task_queue = f"test-{uuid.uuid4()}"
    async with build_worker(time_skipping.client, deps, task_queue=task_queue):
        result = await (await start_export_drain(time_skipping.client, task_queue=task_queue)).result()
        [job] = await all_jobs(sessions)
        assert result.totals.failed_job_ids == [str(job_id)]
        assert (job.status, job.attempts) == ("FAILED", 5)
        assert "HTTP 500" in (job.last_error or "") and job.completed_at is not None
        # Five appends, each refused; from the second on, each looked for the row first.
        assert await sandbox.call_count("sheets", APPEND) == 5
        assert await sandbox.call_count("sheets", READ) == 4
        assert await sheet_numbers(sandbox) == []

        await sandbox.clear_faults()
        retried = await (await retry_failed_exports(time_skipping.client, task_queue=task_queue)).result()
    [job] = await all_jobs(sessions)
    assert retried.totals.exported == 1
    assert (job.status, job.attempts, job.last_error) == ("DONE", 1, None)
    assert await sheet_numbers(sandbox) == ["WO-10042"]


async def test_the_schedule_hands_over_to_the_one_drain(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    await queued_work_orders(sessions, 2)
    # The export-drain schedule as `intake schedules apply` builds it, under an id of this test's own
    # (the server is shared: the real ids may be in use), deleted after.
    [definition] = [d for d in SCHEDULES if d.id == "export-drain"]
    schedule = await client.create_schedule(
        f"export-drain-{uuid.uuid4()}", definition.build(ScheduleOptions(task_queue=task_queue))
    )
    try:
        described = await schedule.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=1)
        async with make_worker():
            await schedule.trigger()
            for _ in range(400):
                if {j.status for j in await all_jobs(sessions)} == {"DONE"}:
                    break
                await asyncio.sleep(0.05)
            await asyncio.wait_for(client.get_workflow_handle(export_drain_workflow_id(task_queue)).result(), 120)
    finally:
        await schedule.delete()
    assert {j.status for j in await all_jobs(sessions)} == {"DONE"}
    assert sorted(await sheet_numbers(sandbox)) == ["WO-10042", "WO-10043"]


async def test_a_stale_attempt_neither_finishes_nor_fails_the_job_and_a_quota_hold_stands(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Attempt 1 outlived its timeout while attempt 2 runs: attempt 1's outcome must not land."""
    [job_id] = await queued_work_orders(sessions, 1)
    async with unit_of_work(sessions) as session:
        await jobs.begin_attempt(job_id, 1, session=session)
        await jobs.begin_attempt(job_id, 2, session=session)
    async with unit_of_work(sessions) as session:
        assert not await jobs.finish(job_id, 7, attempt=1, session=session)
        assert not await jobs.record_failure(job_id, "late 500", final=True, attempt=1, session=session)
    [job] = await all_jobs(sessions)
    assert (job.status, job.attempts, job.sheet_row, job.last_error) == ("PROCESSING", 2, None, None)

    # A quota stop holds the job; a failure recorded after the hold does not bring it forward.
    async with unit_of_work(sessions) as session:
        now = await session.scalar(select(func.now()))
        assert now is not None
        until = now + timedelta(hours=1)
        await jobs.pause_open(until, session=session)
        assert await jobs.record_failure(job_id, "quotaExceeded", final=False, attempt=2, session=session)
    [job] = await all_jobs(sessions)
    assert (job.status, job.next_attempt_at) == ("PENDING", until)
    async with unit_of_work(sessions) as session:
        assert await jobs.finish(job_id, 2, attempt=2, session=session)
    [job] = await all_jobs(sessions)
    assert (job.status, job.sheet_row) == ("DONE", 2)


async def test_an_attempt_without_time_for_its_sheets_calls_does_not_start_them(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """A retry needs two calls of up to the call timeout (3 s here); with less time left it calls nothing."""
    [job_id] = await queued_work_orders(sessions, 1)
    async with unit_of_work(sessions) as session:
        await jobs.begin_attempt(job_id, 1, session=session)  # attempt 1 began: it may have written
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        attempt=2,
        retry_policy=EXPORT_ATTEMPT["retry_policy"],
        start_to_close_timeout=timedelta(seconds=ATTEMPT_MARGIN_SECONDS + 5),
    )
    with pytest.raises(RetryableIntegrationError, match="too little for 2 call"):
        await env.run(ExportActivities(deps).export_job, ExportJobInput(job_id=str(job_id)))
    assert await sandbox.calls("sheets") == []
    [job] = await all_jobs(sessions)
    assert (job.status, job.attempts) == ("PENDING", 2) and "too little" in (job.last_error or "")

    # With the drain's own timeout there is time: the retry looks for the row, then appends it.
    env.info = dataclasses.replace(env.info, attempt=3, start_to_close_timeout=EXPORT_ATTEMPT["start_to_close_timeout"])
    result = await env.run(ExportActivities(deps).export_job, ExportJobInput(job_id=str(job_id)))
    assert result.outcome == "appended"
    assert (await sandbox.call_count("sheets", READ), await sandbox.call_count("sheets", APPEND)) == (1, 1)


async def test_two_workspaces_sharing_a_spreadsheet_keep_a_row_each_on_a_retry(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """Both have a WO-10042; the second's retried attempt must not take the first's row for its own."""
    [first] = await queued_work_orders(sessions, 1)
    second = next(j for j in await queued_work_orders(sessions, 1) if j != first)
    activities = ExportActivities(deps)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        retry_policy=EXPORT_ATTEMPT["retry_policy"],
        start_to_close_timeout=EXPORT_ATTEMPT["start_to_close_timeout"],
    )
    assert (await env.run(activities.export_job, ExportJobInput(job_id=str(first)))).outcome == "appended"
    async with unit_of_work(sessions) as session:
        await jobs.begin_attempt(second, 1, session=session)  # its attempt 1 began, then was lost
    env.info = dataclasses.replace(env.info, attempt=2)
    retried = await env.run(activities.export_job, ExportJobInput(job_id=str(second)))

    assert (retried.outcome, retried.sheet_row) == ("appended", 3)
    assert await sheet_numbers(sandbox) == ["WO-10042", "WO-10042"]
    async with sessions() as session:
        orders = {job.id: job.work_order_id for job in await jobs.find_many(session=session)}
    rows = (await sandbox.spreadsheet(SPREADSHEET_ID))["Work Orders"][1:]
    assert [row[-1] for row in rows] == [str(orders[first]), str(orders[second])]  # the key column, last
