"""The engine mirror against real Temporal and Postgres: attempts from the worker, the rest
projected from history by the feed, rebuildable, surviving replays and restarts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from client.discussions import start_discussion
from client.mirror_feed import MirrorFeed, rebuild
from client.mirror_projection import project
from client.operations import cancel_workflow, pause_workflow, resume_workflow, start_batch, wait_for_batch
from client.schedules import ScheduleOptions, expand_schedules
from client.work_orders import start_export_drain
from contracts.discussions import DiscussionInput
from contracts.mirror import PruneMirrorInput
from core.errors import ConflictError, NotFoundError
from core.settings import Settings
from db.models.mirror import Execution, ExecutionHistoryEvent, ExecutionStep, JobAttempt, Timer
from db.repositories.mirror import MirrorRepository
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from sandbox.slack import THREADS
from stack.processes import free_port
from tests.helpers import HISTORIES, intake_cli, record_history
from tests.test_dead_workers import APPEND, ROOT, kill, until_started
from tests.test_dead_workers import doomed_worker as doomed_worker  # a fixture: `python -m worker`
from tests.test_exports import queued_work_orders
from workflows.mirror import PruneMirrorWorkflow

THREAD = "C0PRODUCT:1718010000.000100"


def feed_for(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str) -> MirrorFeed:
    """A feed scoped to this test's task queue (the session's Temporal server keeps other tests' runs)."""
    return MirrorFeed(
        client, sessions, scope=f"TaskQueue = '{task_queue}'", rescan_every=0.5, paused_every=0.5, open_every=0.5
    )


async def until(check: Any, *, what: str, timeout: float = 30.0, feed: MirrorFeed | None = None) -> Any:
    """Tick `feed` (when given) until `check()` returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if feed is not None:
            await feed.tick()
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def execution(sessions: async_sessionmaker[AsyncSession], handle: WorkflowHandle) -> Execution | None:
    async with sessions() as session:
        return await MirrorRepository().latest_run(handle.id, session=session)


async def final_execution(
    sessions: async_sessionmaker[AsyncSession], handle: WorkflowHandle, feed: MirrorFeed, status: str = "completed"
) -> Execution:
    async def check() -> Execution | None:
        found = await execution(sessions, handle)
        return found if found is not None and found.status == status else None

    result: Execution = await until(check, what=f"{handle.id} {status} in the mirror", feed=feed)
    return result


async def rows_of(sessions: async_sessionmaker[AsyncSession], model: Any, workflow_id: str) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(select(model).where(model.workflow_id == workflow_id))).all())


async def attempts_settled(sessions: async_sessionmaker[AsyncSession], workflow_id: str) -> list[JobAttempt]:
    """The run's attempt rows once there is one per attempt its steps made, none still running."""

    async def check() -> list[JobAttempt] | None:
        rows = await rows_of(sessions, JobAttempt, workflow_id)
        steps = await rows_of(sessions, ExecutionStep, workflow_id)
        made = sum(s.attempts for s in steps)
        return rows if steps and len(rows) == made and all(r.outcome != "running" for r in rows) else None

    found: list[JobAttempt] = await until(check, what=f"the attempts of {workflow_id}")
    return found


async def test_an_activity_failing_twice_then_succeeding_has_three_attempts_one_step_and_a_completed_run(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
) -> None:
    await sandbox.set_fault("slack", "conversations.replies", error_rate=1.0, times=2)
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await handle.result()
        run = await final_execution(sessions, handle, feed)
        rows = await attempts_settled(sessions, handle.id)

    assert (run.workflow_type, run.team_id, run.task_queue) == ("DiscussionWorkflow", team, task_queue)
    assert run.discussion_id is not None and run.close_time is not None
    steps = await rows_of(sessions, ExecutionStep, handle.id)
    thread = [s for s in steps if s.name == "discussion_build_thread"]
    assert len(thread) == 1
    assert (thread[0].status, thread[0].attempts) == ("completed", 3)
    built = sorted((r for r in rows if r.activity_type == "discussion_build_thread"), key=lambda r: r.attempt)
    assert [(r.attempt, r.outcome) for r in built] == [(1, "failed"), (2, "failed"), (3, "completed")]
    assert all(r.error for r in built[:2]) and built[2].error is None
    assert all(r.ended_at is not None and r.ended_at >= r.started_at for r in built)
    # Every other step ran once, and each attempt is one row.
    assert {(s.name, s.attempts) for s in steps if s.name != "discussion_build_thread"} == {
        (r.activity_type, 1) for r in rows if r.activity_type != "discussion_build_thread"
    }
    # The two waits between the attempts are retry timers, fired when the next attempt started.
    timers = sorted(await rows_of(sessions, Timer, handle.id), key=lambda t: t.started_at)
    assert [(t.kind, t.activity_id, t.cancelled) for t in timers] == [("retry", thread[0].activity_id, False)] * 2
    # (the worker's clock and the server's: the same machine's, within a second)
    for timer, next_attempt in zip(timers, built[1:], strict=True):
        assert timer.fired_at is not None and abs((timer.fired_at - next_attempt.started_at).total_seconds()) < 1
    assert all(t.fire_at > t.started_at for t in timers)
    history = await rows_of(sessions, ExecutionHistoryEvent, handle.id)
    assert [h.event_id for h in sorted(history, key=lambda h: h.event_id)] == list(range(1, run.history_length + 1))


async def test_replay_writes_nothing_twice_and_a_second_pass_changes_nothing(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
) -> None:
    """With no workflow cache every workflow task replays the run from the start; the mirror
    still has one attempt per attempt, one step per activity, one line per event."""
    feed = feed_for(client, sessions, task_queue)
    async with make_worker(max_cached_workflows=0):
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await handle.result()
        run = await final_execution(sessions, handle, feed)
    steps = await rows_of(sessions, ExecutionStep, handle.id)
    rows = await attempts_settled(sessions, handle.id)
    assert sorted((r.activity_id, r.attempt) for r in rows) == sorted((s.activity_id, 1) for s in steps)
    assert len(await rows_of(sessions, ExecutionHistoryEvent, handle.id)) == run.history_length

    # The feed passing over the same runs again (a rescan, a restart) rewrites nothing.
    await feed.mirror([(handle.id, run.run_id)])
    again = await execution(sessions, handle)
    assert again is not None and again.mirrored_at == run.mirrored_at


async def test_rebuild_on_an_empty_mirror_equals_the_live_mirror_row_for_row(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
) -> None:
    await sandbox.set_fault("slack", "conversations.replies", error_rate=1.0, times=1)
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await handle.result()
        await final_execution(sessions, handle, feed)
        await attempts_settled(sessions, handle.id)
    repo = MirrorRepository()
    async with sessions() as session:
        live = await repo.snapshot(session=session)
        attempts_before = await session.scalar(select(func.count()).select_from(JobAttempt))

    same = await rebuild(client, sessions, scope=feed.scope)
    assert same.differed == 0, same.as_dict()

    async with unit_of_work(sessions) as session:
        await repo.delete_projected(session=session)
    fresh = await rebuild(client, sessions, scope=feed.scope)
    assert fresh.runs == 1
    assert fresh.tables["executions"].missing == 1 and fresh.tables["execution_history"].missing > 10
    async with sessions() as session:
        assert await repo.snapshot(session=session) == live
        assert await session.scalar(select(func.count()).select_from(JobAttempt)) == attempts_before


async def until_status(
    sessions: async_sessionmaker[AsyncSession], handle: WorkflowHandle, feed: MirrorFeed, status: str
) -> Execution:
    """The run's mirror row once it says `status` (the feed ticking meanwhile)."""
    return await final_execution(sessions, handle, feed, status=status)


async def test_a_paused_run_shows_paused_then_completes_once_resumed(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
) -> None:
    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=1500)
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await until_status(sessions, handle, feed, "running")
        await pause_workflow(client, handle.id)
        paused = await until_status(sessions, handle, feed, "paused")
        assert paused.close_time is None
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
            )
        )
        assert described.workflow_execution_info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_PAUSED
        await resume_workflow(client, handle.id)
        await handle.result()
        done = await until_status(sessions, handle, feed, "completed")
    kinds = [h.kind for h in await rows_of(sessions, ExecutionHistoryEvent, handle.id)]
    assert "workflow_execution_paused" in kinds and "workflow_execution_unpaused" in kinds
    assert done.close_time is not None


async def test_pausing_a_closed_run_is_refused_in_our_words(
    client: Client, make_worker: Any, sandbox: SandboxControl, team: str, task_queue: str
) -> None:
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await handle.result()
    with pytest.raises((ConflictError, NotFoundError)):
        await pause_workflow(client, handle.id)
    with pytest.raises(NotFoundError):
        await cancel_workflow(client, f"no-such-run-{uuid.uuid4()}")


async def test_cancel_by_query_cancels_every_matching_run_and_the_mirror_says_so(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
) -> None:
    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=20_000)
    threads = [await sandbox.post_slack_thread(channel, lines) for channel, _, lines in THREADS[:3]]
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handles = [
            await start_discussion(
                client,
                DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread),
                task_queue=task_queue,
            )
            for thread in threads
        ]
        for handle in handles:
            await until_status(sessions, handle, feed, "running")
        query = f"TaskQueue = '{task_queue}' AND IntakeTeamId = '{team}' AND ExecutionStatus = 'Running'"
        job_id = await start_batch(client, "cancel", query, reason="test")
        result = await wait_for_batch(client, job_id)
        assert (result.state, result.total, result.completed, result.failed) == ("completed", 3, 3, 0)
        closed = [await until_status(sessions, handle, feed, "cancelled") for handle in handles]

        async def attempts_ended() -> bool:
            rows = [r for handle in handles for r in await rows_of(sessions, JobAttempt, handle.id)]
            return all(r.outcome != "running" for r in rows)

        # The cancelled attempts end in the worker too (their heartbeats hear of the cancel).
        await until(attempts_ended, what="the cancelled attempts ended", feed=feed)
    # DiscussionWorkflow records the cancelled stage as its job's failure, so Temporal closes it
    # failed; the mirror says cancelled, as the operator asked.
    assert {c.temporal_status for c in closed} <= {"cancelled", "failed"}
    for handle in handles:
        kinds = [h.kind for h in await rows_of(sessions, ExecutionHistoryEvent, handle.id)]
        assert "workflow_execution_cancel_requested" in kinds
    await sandbox.clear_faults()


async def test_the_reports_and_mirror_commands_print_what_the_mirror_has(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
    settings: Settings,
) -> None:
    await sandbox.set_fault("slack", "conversations.replies", error_rate=1.0, times=1)
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
        )
        await handle.result()
        await final_execution(sessions, handle, feed)
        await attempts_settled(sessions, handle.id)

    async def run(*args: str) -> str:
        done = await intake_cli(settings, *args, MIRROR_QUERY=feed.scope or "")
        assert done.returncode == 0, f"intake {' '.join(args)}: {done.stderr}"
        return done.stdout

    # Side by side: each is a process of its own.
    outputs = await asyncio.gather(
        run("report", "executions", "--team", team, "--since", "1h", "--json"),
        run("report", "executions", "--team", team),
        run("report", "steps", "--team", team, "--name", "discussion_build_thread", "--json"),
        run("report", "attempts", "--workflow", handle.id, "--outcome", "failed", "--json"),
        run("report", "run", handle.id, "--json"),
        run("report", "failures", "--team", team, "--json"),
        run("mirror", "status", "--json"),
    )
    table = outputs[1]
    runs, steps, attempts, timeline, failures, status = (json.loads(out) for i, out in enumerate(outputs) if i != 1)
    assert [(r["workflow_id"], r["status"]) for r in runs] == [(handle.id, "completed")]
    assert any(handle.id in line and "completed" in line for line in table.splitlines())
    assert [(s["attempts"], s["status"]) for s in steps] == [(2, "completed")]
    assert [(a["activity_type"], a["attempt"]) for a in attempts] == [("discussion_build_thread", 1)]
    assert "internal_error" in attempts[0]["error"]
    kinds = [item["kind"] for item in timeline["timeline"]]
    assert kinds.count("step") == len(timeline["steps"]) and kinds.count("attempt") == len(timeline["attempts"])
    assert kinds.count("timer") == 1 and timeline["timers"][0]["kind"] == "retry"
    assert timeline["timers"][0]["fired_at"] is not None
    assert [item["at"] for item in timeline["timeline"]] == sorted(item["at"] for item in timeline["timeline"])
    assert failures["steps"] == []  # the step recovered: no failed step, one failed attempt
    assert [(a["activity"], a["outcome"], a["attempts"]) for a in failures["attempts"]] == [
        ("discussion_build_thread", "failed", 1)
    ]
    assert status["rows"]["executions"] == 1 and status["close_watermark"] is not None
    assert status["closed_runs_not_mirrored"] == 0
    rebuilt = json.loads(await run("mirror", "rebuild", "--json"))
    assert (rebuilt["runs"], rebuilt["differed"]) == (1, 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("workflow", "cancel", "some-id", "--query", "IntakeTeamId='x'"), "give one WORKFLOW_ID or --query, not both"),
        (("workflow", "reset"), "give a WORKFLOW_ID or --query"),
        (("workflow", "pause", "no-such-workflow"), "pause no-such-workflow:"),
        (("report", "executions", "--since", "yesterday"), "--since 'yesterday' is neither a duration"),
        (("report", "executions", "--status", "done"), "--status 'done': one of pending, running, paused"),
        (("report", "run", "no-such-workflow"), "the mirror has no run of workflow 'no-such-workflow'"),
        (("workflow", "cancel", "--query", "NoSuchAttribute = 'x'"), "cancel by query \"NoSuchAttribute = 'x'\":"),
        (("workflow", "terminate", "--query", "WorkflowId = 'no-such-workflow'"), "terminate by query: no run matches"),
    ],
)
async def test_the_mirror_commands_refuse_bad_input_in_one_line(
    settings: Settings, engine: Any, args: tuple[str, ...], says: str
) -> None:
    done = await intake_cli(settings, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr


async def test_an_export_retry_wait_shows_up_as_timers(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    task_queue: str,
) -> None:
    """The Sheets append fails twice: the export activity waits 1 s, then 2 s (its retry policy)
    before the next attempts, and the mirror has both waits as retry timers."""
    await queued_work_orders(sessions, 1)
    await sandbox.set_fault("sheets", APPEND, error_rate=1.0, times=2)
    feed = feed_for(client, sessions, task_queue)
    async with make_worker():
        handle = await start_export_drain(client, task_queue=task_queue)
        await handle.result()
        await final_execution(sessions, handle, feed)
        await attempts_settled(sessions, handle.id)
    exports = [s for s in await rows_of(sessions, ExecutionStep, handle.id) if s.attempts == 3]
    assert len(exports) == 1 and exports[0].status == "completed"
    timers = sorted(await rows_of(sessions, Timer, handle.id), key=lambda t: t.started_at)
    assert [(t.kind, t.activity_id) for t in timers] == [("retry", exports[0].activity_id)] * 2
    assert [round((t.fire_at - t.started_at).total_seconds()) for t in timers] == [1, 2]
    assert all(t.fired_at is not None and t.fired_at >= t.started_at and not t.cancelled for t in timers)
    shown = await rows_of(sessions, JobAttempt, handle.id)
    assert sorted(a.outcome for a in shown if a.activity_id == exports[0].activity_id) == [
        "completed",
        "failed",
        "failed",
    ]


async def test_a_worker_killed_mid_activity_leaves_its_attempt_lost_not_running(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
    doomed_worker: subprocess.Popen[bytes],
) -> None:
    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=2500)
    feed = feed_for(client, sessions, task_queue)
    handle = await start_discussion(
        client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=THREAD), task_queue=task_queue
    )
    await until_started(handle, "discussion_analyze")

    async def recorded_running() -> list[JobAttempt]:
        rows = await rows_of(sessions, JobAttempt, handle.id)
        return [r for r in rows if r.activity_type == "discussion_analyze" and r.outcome == "running"]

    [lost] = await until(recorded_running, what="the doomed worker's attempt recorded")
    kill(doomed_worker)
    await sandbox.clear_faults()
    async with make_worker():
        await handle.result()
        await final_execution(sessions, handle, feed)
        rows = await attempts_settled(sessions, handle.id)
    analyze = sorted((r for r in rows if r.activity_type == "discussion_analyze"), key=lambda r: r.attempt)
    assert [(r.attempt, r.outcome) for r in analyze] == [(1, "lost"), (2, "completed")]
    assert analyze[0].worker_identity == lost.worker_identity != analyze[1].worker_identity
    assert analyze[0].ended_at is not None
    [step] = [s for s in await rows_of(sessions, ExecutionStep, handle.id) if s.name == "discussion_analyze"]
    assert (step.status, step.attempts) == ("completed", 2)
    assert step.last_error is not None and "heartbeat" in step.last_error.lower()


def mirror_process(settings: Settings, scope: str, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m client.mirror_feed` (what `intake mirror run` runs) against the test's stack."""
    environment = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_STATE_DIR": str(settings.state_dir),
        "MIRROR_QUERY": scope,
        **env,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "client.mirror_feed"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def test_a_mirror_process_killed_and_restarted_catches_up_with_no_gaps_or_duplicates(
    client: Client,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    task_queue: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    scope = f"TaskQueue = '{task_queue}'"
    log_path = tmp_path / "mirror.log"
    threads = [await sandbox.post_slack_thread(channel, lines) for channel, _, lines in THREADS[:4]]

    async def discussions(batch: list[str]) -> list[WorkflowHandle]:
        handles = [
            await start_discussion(
                client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=t), task_queue=task_queue
            )
            for t in batch
        ]
        await asyncio.gather(*(h.result() for h in handles))
        return handles

    async def all_final(handles: list[WorkflowHandle]) -> list[Execution] | None:
        rows = [await execution(sessions, h) for h in handles]
        return [r for r in rows if r is not None] if all(r and r.status == "completed" for r in rows) else None

    # Started before Temporal answers, it waits and says so, and does not crash.
    waiting = mirror_process(settings, scope, log_path, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    try:
        await until(
            lambda: asyncio.sleep(0, "waiting: Temporal at" in log_path.read_text()), what="the waiting message"
        )
        assert waiting.poll() is None
    finally:
        waiting.kill()
        waiting.wait(timeout=30)

    process = mirror_process(settings, scope, log_path)
    try:
        async with make_worker():
            first = await discussions(threads[:2])
            before = await until(lambda: all_final(first), what="the first runs mirrored")
            process.kill()  # SIGKILL: no clean stop
            process.wait(timeout=30)
            second = await discussions(threads[2:])  # closed while no mirror runs
            process = mirror_process(settings, scope, log_path)
            after = await until(lambda: all_final(first + second), what="the runs closed meanwhile mirrored")
    finally:
        process.kill()
        process.wait(timeout=30)

    async with sessions() as session:
        runs = (await session.scalars(select(Execution))).all()
        events = await session.scalar(select(func.count()).select_from(ExecutionHistoryEvent))
    assert sorted(r.workflow_id for r in runs) == sorted(h.id for h in first + second)
    assert events == sum(r.history_length for r in runs)
    # The restart passed over the runs mirrored before it without writing them again.
    assert [r.mirrored_at for r in after[:2]] == [r.mirrored_at for r in before]


async def test_pruning_deletes_runs_and_attempts_past_the_retention_in_one_go(
    client: Client, make_worker: Any, sessions: async_sessionmaker[AsyncSession], task_queue: str
) -> None:
    now = datetime.now(UTC)
    repo = MirrorRepository()

    def run_rows(workflow_id: str, closed: datetime) -> dict[str, Any]:
        return {
            "workflow_id": workflow_id,
            "run_id": "r1",
            "workflow_type": "DiscussionWorkflow",
            "parent_workflow_id": None,
            "parent_run_id": None,
            "task_queue": task_queue,
            "status": "completed",
            "temporal_status": "completed",
            "start_time": closed - timedelta(seconds=5),
            "close_time": closed,
            "team_id": None,
            "user_id": None,
            "discussion_id": None,
            "work_order_id": None,
            "error": None,
            "history_length": 1,
        }

    async with unit_of_work(sessions) as session:
        await repo.upsert_runs(
            session=session,
            executions=[run_rows("old", now - timedelta(days=40)), run_rows("new", now - timedelta(days=1))],
            steps=[],
            timers=[],
            history=[
                {"workflow_id": w, "run_id": "r1", "event_id": 1, "event_time": now, "kind": "x", "summary": ""}
                for w in ("old", "new")
            ],
        )
        await repo.record_attempts(
            [
                {
                    "workflow_id": w,
                    "run_id": "r1",
                    "activity_id": "1",
                    "attempt": 1,
                    "activity_type": "a",
                    "workflow_type": "DiscussionWorkflow",
                    "local": False,
                    "worker_identity": "w",
                    "started_at": started,
                    "ended_at": started,
                    "outcome": "completed",
                    "error": None,
                }
                for w, started in (("old", now - timedelta(days=40)), ("new", now))
            ],
            session=session,
        )
    async with make_worker():
        handle = await client.start_workflow(
            PruneMirrorWorkflow.run,
            PruneMirrorInput(retention_days=30),
            id=f"prune-mirror-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        await record_history(handle, "prune_mirror")
    assert result.executions_deleted == 1 and result.attempts_deleted >= 1
    async with sessions() as session:
        runs = (await session.scalars(select(Execution.workflow_id))).all()
        events = (await session.scalars(select(ExecutionHistoryEvent.workflow_id))).all()
        attempts = (await session.scalars(select(JobAttempt.workflow_id).where(JobAttempt.run_id == "r1"))).all()
    assert runs == events == attempts == ["new"]
    assert "prune-mirror" in dict(expand_schedules(ScheduleOptions(task_queue=task_queue)))


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_the_projection_of_every_recorded_history_is_closed_and_complete(path: Path) -> None:
    """Pure: a finished run's history gives a closed execution, every step ended, one line per event."""
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    rows = project(path.stem, "run", history.events)
    assert rows.closed and rows.execution["status"] in ("completed", "failed", "cancelled")
    assert rows.execution["workflow_type"] and rows.execution["start_time"] <= rows.execution["close_time"]
    assert [h["event_id"] for h in rows.history] == [e.event_id for e in history.events]
    assert all(s["status"] in ("completed", "failed", "skipped") and s["attempts"] >= 1 for s in rows.steps)
    assert len({s["activity_id"] for s in rows.steps}) == len(rows.steps)
    assert project(path.stem, "run", history.events) == rows  # the same events, the same rows
