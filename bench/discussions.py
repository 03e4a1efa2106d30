"""Benchmark: N discussions through DiscussionWorkflow against the sandbox (no added latency),
compared with a plain six-activity no-op workflow on the same stack, in the same process.

    .venv/bin/python -m bench.discussions --n 500 --concurrency 50 --rounds 5 [--via execute|lambda]

The two alternate in rounds so the machine's changing load hits both alike. Prints discussions/s,
p50/p95 latency, the baseline's workflows/s, and last `ratio=<x>`
(discussions/s divided by baseline workflows/s: 1.0 means the real pipeline runs as fast
as an empty one of the same shape). `--via` runs db/compiled.py's statements through
SQLAlchemy's own path instead (bench/sqlalchemy_path.py), to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deps import Deps
from bench import sqlalchemy_path
from bench.noop import SixNoOpsWorkflow, noop
from bench.stack import BenchStack, bench_stack
from client.discussions import start_discussion
from contracts.discussions import DiscussionInput
from core.settings import Settings
from db.admin import DEMO_NOTION_DATABASE_ID
from db.engine import create_engine, create_sessionmaker
from db.repositories.discussions import SourceConfigRepository
from db.uow import unit_of_work
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from sandbox.slack import THREADS
from worker import build_worker


async def post_threads(sandbox_url: str, n: int) -> list[str]:
    """One new Slack thread per discussion, as people post them (each pipeline replies in its
    thread and reacts on it, so threads are not shared): the sandbox's seed threads in turn,
    from a three-message one to a thirty-message one."""
    async with SandboxControl(sandbox_url) as sandbox:
        return [
            await sandbox.post_slack_thread(channel, lines)
            for channel, _, lines in (THREADS[i % len(THREADS)] for i in range(n))
        ]


async def measure(
    indexes: range, concurrency: int, run_one: Callable[[int], Awaitable[None]], latencies: list[float]
) -> float:
    """Run `run_one(i)` for each index with at most `concurrency` in flight; returns the seconds taken."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await run_one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in indexes))
    return time.perf_counter() - started


@contextmanager
def cpu_used(stack: BenchStack, totals: dict[str, float]) -> Iterator[None]:
    """Add the CPU seconds each process of the stack uses inside the block to `totals`."""
    before = stack.cpu_seconds()
    yield
    for part, seconds in stack.cpu_seconds().items():
        totals[part] = totals.get(part, 0.0) + seconds - before[part]


def cpu_line(totals: dict[str, float], runs: int) -> str:
    parts = ", ".join(f"{part} {seconds / runs * 1000:.0f}" for part, seconds in totals.items())
    return f"{sum(totals.values()) / runs * 1000:.0f} ms ({parts})"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def main(n: int, concurrency: int, rounds: int, via: str) -> None:
    sqlalchemy_path.use(via)
    async with bench_stack() as stack:
        client: Client = stack.client
        settings = Settings(
            database_url=stack.database_url,
            temporal_address=stack.temporal_address,
            sandbox_url=stack.sandbox_url,
            task_queue=f"bench-{uuid.uuid4()}",
        )
        engine = create_engine(stack.database_url, pool_size=settings.db_pool_size)
        sessions = create_sessionmaker(engine)
        services = build_clients(settings)
        teams = [f"bench-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]
        threads = await post_threads(stack.sandbox_url, n)
        async with unit_of_work(sessions) as session:
            for team in teams:
                await SourceConfigRepository().ensure(
                    session=session,
                    team_id=team,
                    source_type="slack",
                    name="bench",
                    notion_database_id=DEMO_NOTION_DATABASE_ID,
                )
        try:
            deps = Deps(settings=settings, engine=engine, services=services)
            async with (
                build_worker(client, deps, task_queue=settings.task_queue),
                Worker(
                    client, task_queue=f"{settings.task_queue}-noop", workflows=[SixNoOpsWorkflow], activities=[noop]
                ),
            ):

                async def baseline(i: int) -> None:
                    await client.execute_workflow(
                        SixNoOpsWorkflow.run, i, id=f"noop-{uuid.uuid4()}", task_queue=f"{settings.task_queue}-noop"
                    )

                async def discussion(i: int) -> None:
                    payload = DiscussionInput(team_id=teams[i], source_type="slack", source_thread_id=threads[i])
                    handle = await start_discussion(client, payload, task_queue=settings.task_queue)
                    await handle.result()

                await measure(range(min(20, n)), concurrency, baseline, [])  # warm up
                # The two alternate in rounds, so a change in the machine's load hits both alike.
                base_lat: list[float] = []
                lat: list[float] = []
                base_seconds = seconds = 0.0
                base_cpu: dict[str, float] = {}
                cpu: dict[str, float] = {}
                for start in range(0, n, -(-n // rounds)):
                    batch = range(start, min(n, start + -(-n // rounds)))
                    with cpu_used(stack, base_cpu):
                        base_seconds += await measure(batch, concurrency, baseline, base_lat)
                    with cpu_used(stack, cpu):
                        seconds += await measure(batch, concurrency, discussion, lat)
                base_rate, rate = n / base_seconds, n / seconds
                cache_entries = len(engine.sync_engine._compiled_cache or {})
        finally:
            await services.aclose()
            await engine.dispose()

    print(f"statements via {via}; SQLAlchemy compiled cache: {cache_entries} entries")
    print(
        f"baseline (six no-op activities): {base_rate:.1f} workflows/s, "
        f"p50 {pct(base_lat, 50):.0f} ms, p95 {pct(base_lat, 95):.0f} ms"
    )
    print(
        f"discussions: {n}, {concurrency} in flight, {rounds} rounds: {rate:.1f} discussions/s, "
        f"p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms"
    )
    print(f"CPU per baseline workflow: {cpu_line(base_cpu, n)}")
    print(f"CPU per discussion:        {cpu_line(cpu, n)}")
    # Less sensitive than throughput to what else runs on a shared machine.
    print(
        f"CPU ratio (baseline CPU per workflow / CPU per discussion): {sum(base_cpu.values()) / sum(cpu.values()):.2f}"
    )
    print(f"ratio={rate / base_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="discussions (and baseline workflows) to run")
    parser.add_argument("--concurrency", type=int, default=50, help="runs in flight at once")
    parser.add_argument("--rounds", type=int, default=5, help="alternating baseline/pipeline rounds")
    parser.add_argument(
        "--via",
        choices=sqlalchemy_path.VIAS,
        default="cursor",
        help="how db/compiled.py's statements run (default: as they are)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds, args.via))
