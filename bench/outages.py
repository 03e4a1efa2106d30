"""Benchmark: discussions through PostgreSQL restarts, a long database outage and a killed worker.

    .venv/bin/python -m bench.outages                       # all three scenarios
    .venv/bin/python -m bench.outages --scenario restarts --n 120 --restarts 4 --window 45
    .venv/bin/python -m bench.outages --scenario outage --n 40 --outage 60
    .venv/bin/python -m bench.outages --scenario worker --n 10

- restarts: `n` discussions started evenly over `window` seconds while PostgreSQL is stopped
  and started again `restarts` times (`down` seconds each);
- outage: half the runs in flight when PostgreSQL stops for `outage` seconds (longer than the
  outside calls' retries last), the other half started while it is away;
- worker: a worker process (`python -m worker`) is SIGKILLed while `n` runs wait in their AI
  analysis, and `n` Sheets exports right after their append reached Sheets; a second worker
  (in this process) takes over. The default 30 s outside call timeout applies.

Prints, per scenario, how many runs completed and failed, how long the database was away, and
how long after it came back (or after the kill) the runs completed. Outside services are the
sandbox, with latency added so runs are in flight when things break.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from activities.deps import Deps
from bench.discussions import post_threads
from bench.stack import BenchStack, bench_stack
from client.discussions import start_discussion
from client.work_orders import start_export_drain
from contracts.discussions import DiscussionInput
from core.settings import Settings
from db.admin import DEMO_NOTION_DATABASE_ID
from db.engine import create_engine
from db.repositories.discussions import SourceConfigRepository
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import WorkOrderRepository, WorkspaceRepository
from db.uow import unit_of_work
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID, WORK_ORDERS
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = {"restarts": 120, "outage": 40, "worker": 10}


class Runs:
    """Discussions started now and awaited in the background; their outcome and end time."""

    def __init__(self, client: Client, task_queue: str, team: str) -> None:
        self.client, self.task_queue, self.team = client, task_queue, team
        self.tasks: list[asyncio.Task[Outcome]] = []
        self.handles: list[WorkflowHandle] = []

    async def start(self, thread: str) -> None:
        handle = await start_discussion(
            self.client,
            DiscussionInput(team_id=self.team, source_type="slack", source_thread_id=thread),
            task_queue=self.task_queue,
        )
        self.handles.append(handle)
        self.tasks.append(asyncio.create_task(self._outcome(handle, time.monotonic())))

    @staticmethod
    async def _outcome(handle: WorkflowHandle, started: float) -> Outcome:
        try:
            await handle.result()
            return Outcome(True, started, time.monotonic(), "")
        except Exception as err:  # a failed run is what the benchmark counts
            return Outcome(False, started, time.monotonic(), str(getattr(err, "cause", None) or err))

    async def outcomes(self) -> list[Outcome]:
        return list(await asyncio.gather(*self.tasks))


@dataclass(frozen=True)
class Outcome:
    completed: bool
    started: float
    ended: float
    error: str


def report(name: str, outcomes: list[Outcome], since: float, what: str) -> None:
    ok = [o for o in outcomes if o.completed]
    failed = [o.error for o in outcomes if not o.completed]
    line = f"{name}: {len(ok)}/{len(outcomes)} completed, {len(failed)} failed"
    if ok:
        took = sorted(o.ended - o.started for o in ok)
        line += (
            f"; the last completed {max(o.ended for o in ok) - since:.1f} s after {what}; a run took "
            f"{statistics.median(took):.1f} s (median), {took[-1]:.1f} s (longest)"
        )
    print(line)
    for error in failed[:3]:
        print(f"  failed: {error[:200]}")


async def restarts(
    stack: BenchStack, runs: Runs, threads: list[str], *, count: int, window: float, down: float
) -> None:
    postgres = stack.postgres
    assert postgres is not None
    away: list[float] = []

    async def chaos() -> float:
        back = time.monotonic()
        for _ in range(count):
            await asyncio.sleep(window / (count + 1) - down)
            stopped = time.monotonic()
            await asyncio.to_thread(postgres.stop)
            await asyncio.sleep(down)
            await asyncio.to_thread(postgres.start)
            back = time.monotonic()
            away.append(back - stopped)
        return back

    chaos_task = asyncio.create_task(chaos())
    for thread in threads:
        await runs.start(thread)
        await asyncio.sleep(window / len(threads))
    last_back = await chaos_task
    outcomes = await runs.outcomes()
    print(
        f"restarts: PostgreSQL away {', '.join(f'{a:.1f}' for a in away)} s ({count} restarts in "
        f"{window:.0f} s), {len(threads)} discussions started over the window"
    )
    report("restarts", outcomes, last_back, "the last restart")


async def outage(stack: BenchStack, runs: Runs, threads: list[str], *, seconds: float) -> None:
    postgres = stack.postgres
    assert postgres is not None
    half = len(threads) // 2
    for thread in threads[:half]:
        await runs.start(thread)
    await asyncio.sleep(3)  # in flight
    stopped = time.monotonic()
    await asyncio.to_thread(postgres.stop)
    for thread in threads[half:]:
        await runs.start(thread)
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
    await asyncio.to_thread(postgres.start)
    back = time.monotonic()
    outcomes = await runs.outcomes()
    print(
        f"outage: PostgreSQL away {back - stopped:.1f} s; {half} discussions in flight when it stopped, "
        f"{len(threads) - half} started while it was away"
    )
    report("outage", outcomes, back, "it came back")


def worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_TASK_QUEUE": settings.task_queue,
        "SANDBOX_URL": settings.resolved_sandbox_url() or "",
        "INTAKE_STATE_DIR": str(log.parent),
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def started(handle: WorkflowHandle, activity_type: str) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return any(
        a.activity_type.name == activity_type and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for a in pending
    )


async def dead_worker(
    stack: BenchStack, runs: Runs, threads: list[str], deps: Deps, sandbox: SandboxControl, workdir: Path
) -> None:
    settings = deps.settings
    # Discussions: killed while the AI analysis waits for the LLM.
    doomed = worker_process(settings, workdir / "worker-discussions.log")
    try:
        await sandbox.set_fault("llm", "chat.completions.create", latency_ms=5000)
        for thread in threads:
            await runs.start(thread)
        while not all([await started(handle, "discussion_analyze") for handle in runs.handles]):
            await asyncio.sleep(0.2)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed = time.monotonic()
    finally:
        if doomed.poll() is None:
            doomed.kill()
    await sandbox.clear_faults()
    async with build_worker(stack.client, deps, task_queue=settings.task_queue):
        outcomes = await runs.outcomes()
    print(f"worker: {len(threads)} discussions in their AI analysis when their worker was SIGKILLed")
    report("worker (discussions)", outcomes, killed, "the kill")

    # Sheets exports: killed right after the append reached Sheets (its answer never came).
    await queue_exports(deps, len(WORK_ORDERS))
    await sandbox.set_fault("sheets", "spreadsheets.values.append", fail_after_write="hang")
    doomed = worker_process(settings, workdir / "worker-exports.log")
    try:
        drain = await start_export_drain(stack.client, task_queue=settings.task_queue)
        while await sandbox.call_count("sheets", "spreadsheets.values.append") < 1:
            await asyncio.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed = time.monotonic()
    finally:
        if doomed.poll() is None:
            doomed.kill()
    await sandbox.clear_faults()
    async with build_worker(stack.client, deps, task_queue=settings.task_queue):
        await drain.result()
    done = time.monotonic()
    rows = (await sandbox.spreadsheet(SPREADSHEET_ID))["Work Orders"][1:]
    print(
        f"worker (exports): {len(WORK_ORDERS)} export jobs, {len(rows)} rows; the drain completed "
        f"{done - killed:.1f} s after the kill (call timeout {settings.outside_call_timeout:.0f} s: the lease "
        f"of the attempt killed mid-call)"
    )


async def queue_exports(deps: Deps, count: int) -> None:
    async with unit_of_work(deps.sessions) as session:
        workspace, _ = await WorkspaceRepository().get_or_create(
            session=session, slug=f"bench-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID
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
            await ExportJobRepository().enqueue(
                session=session, workspace_id=workspace.id, kind="WORK_ORDER", work_order_id=work_order.id
            )


async def main(args: argparse.Namespace) -> None:
    scenarios = ["restarts", "outage", "worker"] if args.scenario == "all" else [args.scenario]
    async with bench_stack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="intake-bench-outages-"))
        for scenario in scenarios:
            settings = Settings(
                database_url=stack.database_url,
                temporal_address=stack.temporal_address,
                sandbox_url=stack.sandbox_url,
                task_queue=f"bench-{uuid.uuid4()}",
                state_dir=workdir,
            )
            engine = create_engine(stack.database_url, pool_size=settings.db_pool_size)
            services = build_clients(settings)
            deps = Deps(settings=settings, engine=engine, services=services)
            team = f"bench-{uuid.uuid4().hex[:6]}"
            async with unit_of_work(deps.sessions) as session:
                await SourceConfigRepository().ensure(
                    session=session,
                    team_id=team,
                    source_type="slack",
                    name="bench",
                    notion_database_id=DEMO_NOTION_DATABASE_ID,
                )
            runs = Runs(stack.client, settings.task_queue, team)
            try:
                async with SandboxControl(stack.sandbox_url) as sandbox:
                    await sandbox.reset()
                    threads = await post_threads(stack.sandbox_url, args.n or DEFAULT_RUNS[scenario])
                    if scenario == "worker":
                        await dead_worker(stack, runs, threads, deps, sandbox, workdir)
                        continue
                    # Runs long enough to be in flight when the database goes.
                    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=2000)
                    await sandbox.set_fault("slack", "conversations.replies", latency_ms=1000)
                    async with build_worker(stack.client, deps, task_queue=settings.task_queue):
                        if scenario == "restarts":
                            await restarts(
                                stack, runs, threads, count=args.restarts, window=args.window, down=args.down
                            )
                        else:
                            await outage(stack, runs, threads, seconds=args.outage)
            finally:
                await services.aclose()
                await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["all", "restarts", "outage", "worker"], default="all")
    parser.add_argument("--n", type=int, default=None, help="discussions per scenario (default 120 / 40 / 10)")
    parser.add_argument("--restarts", type=int, default=4, help="PostgreSQL restarts (restarts)")
    parser.add_argument("--window", type=float, default=45.0, help="seconds the restarts and starts span")
    parser.add_argument("--down", type=float, default=2.0, help="seconds PostgreSQL stays down per restart")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds PostgreSQL is away (outage)")
    asyncio.run(main(parser.parse_args()))
