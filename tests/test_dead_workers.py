"""A worker that dies (SIGKILL) mid-stage: another worker takes its runs over, and nothing happens twice.

The dead worker is a real `python -m worker` process; the second one runs in the test. Its
activities heartbeat, so Temporal gives up on the dead worker's attempt for its missing
heartbeats (the history says so), not after the attempt's whole start-to-close timeout. The
Sheets export keeps its exactly-once row even when the attempt given up on is still alive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType, PendingActivityState, TimeoutType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment

from activities.deps import Deps
from activities.exports import ExportActivities, sheets_lease
from client.discussions import start_discussion
from client.work_orders import start_export_drain
from contracts.discussions import DiscussionInput
from contracts.exports import ExportJobInput
from core.settings import Settings
from db.repositories.discussions import DiscussionRepository, JobRepository
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID
from tests.test_exports import all_jobs, jobs, queued_work_orders, sheet_numbers
from workflows.exports import EXPORT_ATTEMPT

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = "C0PRODUCT:1718010000.000100"
APPEND = "spreadsheets.values.append"


@pytest.fixture
async def doomed_worker(settings: Settings, tmp_path: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`python -m worker` on the test's task queue, to be killed by the test (and at the end)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_TASK_QUEUE": settings.task_queue,
        "SANDBOX_URL": settings.resolved_sandbox_url() or "",
        "INTAKE_STATE_DIR": str(settings.state_dir),
        "OUTSIDE_CALL_TIMEOUT": str(settings.outside_call_timeout),
    }
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def kill(process: subprocess.Popen[bytes]) -> float:
    """SIGKILL: no graceful shutdown, nothing reported to Temporal. Returns when it happened."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return time.monotonic()


async def until_started(handle: WorkflowHandle, activity_type: str, *, timeout: float = 90.0) -> None:
    """Wait until the run's activity `activity_type` has been started by a worker."""
    deadline = time.monotonic() + timeout
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(
            a.activity_type.name == activity_type and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for a in pending
        ):
            return
        assert time.monotonic() < deadline, f"{activity_type} never started: {pending}"
        await asyncio.sleep(0.1)


async def retried_for(handle: WorkflowHandle, activity_type: str) -> list[TimeoutType.ValueType]:
    """The timeout types that ended earlier attempts of `activity_type`, as the history tells."""
    scheduled: dict[int, str] = {}
    kinds: list[TimeoutType.ValueType] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if scheduled.get(started.scheduled_event_id) == activity_type and started.attempt > 1:
                kinds.append(started.last_failure.timeout_failure_info.timeout_type)
    return kinds


async def test_a_worker_killed_mid_stage_hands_its_run_to_another_worker(
    client: Client,
    make_worker,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    doomed_worker: subprocess.Popen[bytes],
    task_queue: str,
) -> None:
    """The first worker dies while the AI analysis waits for the LLM; the second completes the run,
    every outside write once, and Temporal gave up on the dead attempt for its missing heartbeats."""
    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=2500)
    handle = await start_discussion(
        client,
        DiscussionInput(team_id=team, source_type="slack", source_thread_id=CHECKOUT),
        task_queue=task_queue,
    )
    await until_started(handle, "discussion_analyze")
    killed = kill(doomed_worker)
    await sandbox.clear_faults()
    async with make_worker():
        result = await handle.result()
    print(f"worker killed mid-stage: the run completed on another worker {time.monotonic() - killed:.1f} s later")

    assert await retried_for(handle, "discussion_analyze") == [TimeoutType.TIMEOUT_TYPE_HEARTBEAT]
    async with sessions() as session:
        job = await JobRepository().find_by_id(uuid.UUID(result.job_id), session=session)
        discussion = await DiscussionRepository().find_by_id(uuid.UUID(result.discussion_id), session=session)
    assert job is not None and discussion is not None
    assert (job.status, discussion.status) == ("completed", "completed")
    assert len(await sandbox.created("notion", "pages")) == len(result.task_ids) > 1
    assert len(await sandbox.created("slack", "messages")) == 1


async def test_a_worker_killed_right_after_its_sheets_append_leaves_one_row(
    client: Client,
    make_worker,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    doomed_worker: subprocess.Popen[bytes],
    task_queue: str,
) -> None:
    """The append reached Sheets and the worker died before it heard back: the next attempt, on the
    second worker, finds the row and appends none."""
    [job_id] = await queued_work_orders(sessions, 1)
    await sandbox.set_fault("sheets", APPEND, fail_after_write="hang", times=1)
    drain = await start_export_drain(client, task_queue=task_queue)
    while await sandbox.call_count("sheets", APPEND) == 0:
        await asyncio.sleep(0.05)
    killed = kill(doomed_worker)
    async with make_worker():
        await drain.result()
    print(f"worker killed after its Sheets append: the export completed {time.monotonic() - killed:.1f} s later")

    assert await retried_for(drain, "export_job") == [TimeoutType.TIMEOUT_TYPE_HEARTBEAT]
    assert await sheet_numbers(sandbox) == ["WO-10042"]
    [job] = await all_jobs(sessions)
    assert (job.id, job.status, job.attempts, job.sheet_row) == (job_id, "DONE", 2, 2)


async def test_a_retry_waits_for_the_lease_of_an_attempt_still_calling_sheets(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """Attempt 1's worker is alive but cut off from Temporal, which starts attempt 2: attempt 1's
    append lands while attempt 2 runs, inside attempt 1's lease. Attempt 2 calls Sheets only after
    that lease, so it finds the row instead of appending a second."""
    [job_id] = await queued_work_orders(sessions, 1)
    async with unit_of_work(sessions) as session:
        begun = await jobs.begin_attempt(
            job_id, 1, lease=sheets_lease(deps.settings.outside_call_timeout), session=session
        )
    key = str(begun.job.work_order_id)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        attempt=2,
        retry_policy=EXPORT_ATTEMPT["retry_policy"],
        start_to_close_timeout=EXPORT_ATTEMPT["start_to_close_timeout"],
    )
    retry = asyncio.create_task(env.run(ExportActivities(deps).export_job, ExportJobInput(job_id=str(job_id))))
    await asyncio.sleep(0.5)  # attempt 2 has begun
    late = await deps.services.sheets.append_row(
        SPREADSHEET_ID, "Work Orders", ["WO-10042", *[""] * 6], key=key, look_first=False
    )
    result = await retry

    assert (result.outcome, result.sheet_row) == ("found", late.row_number)
    assert await sheet_numbers(sandbox) == ["WO-10042"]
    assert await sandbox.call_count("sheets", APPEND) == 1  # attempt 1's only
