"""Benchmark: the discussion load (bench/discussions.py's shape) with the engine mirror on and
off, in alternating rounds, in the same run.

    .venv/bin/python -m bench.mirror --n 200 --concurrency 50 --rounds 4

"On" means what production runs: the worker records every activity attempt (job_attempts) and
the mirror's feed runs as its own process (`python -m client.mirror_feed`, as `intake mirror
run`), started before the round and stopped after it; "off" means neither. Each "on" round's
feed is scoped to the runs started in that round, so it does not also catch up on the "off"
rounds' runs. Prints discussions/s on and off, the mirror lag (p50 / p99 seconds from a run
closing in Temporal to its row being final in Postgres: executions.mirrored_at - close_time),
the rebuild rate (runs/s of `rebuild` over every run of the benchmark), and last
`ratio=<on/off>` (throughput with the mirror on divided by without).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.deps import Deps
from activities.interceptors import RecordAttempts
from bench.discussions import measure, pct, post_threads
from bench.stack import bench_stack
from client.discussions import start_discussion
from client.mirror_feed import rebuild
from contracts.discussions import DiscussionInput
from core.settings import Settings
from db.admin import DEMO_NOTION_DATABASE_ID
from db.engine import create_engine, create_sessionmaker
from db.models.mirror import Execution
from db.repositories.discussions import SourceConfigRepository
from db.uow import unit_of_work
from integrations.factory import build_clients
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 10


def start_feed(settings: Settings, scope: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "MIRROR_QUERY": scope,
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "client.mirror_feed"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def main(n: int, concurrency: int, rounds: int, parts: set[str]) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="intake-bench-mirror-"))
    async with bench_stack() as stack:
        client = stack.client
        settings = Settings(
            database_url=stack.database_url,
            temporal_address=stack.temporal_address,
            sandbox_url=stack.sandbox_url,
            task_queue=f"bench-{uuid.uuid4()}",
        )
        engine = create_engine(stack.database_url, pool_size=settings.db_pool_size)
        sessions = create_sessionmaker(engine)
        services = build_clients(settings)
        total = n + WARM_UP
        teams = [f"bench-{uuid.uuid4().hex[:6]}-{i}" for i in range(total)]
        threads = await post_threads(stack.sandbox_url, total)
        async with unit_of_work(sessions) as session:
            for team in teams:
                await SourceConfigRepository().ensure(
                    session=session,
                    team_id=team,
                    source_type="slack",
                    name="bench",
                    notion_database_id=DEMO_NOTION_DATABASE_ID,
                )
        lags: list[float] = []
        seconds = {"on": 0.0, "off": 0.0}
        runs = {"on": 0, "off": 0}
        latencies: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, dict[str, float]] = {"on": {}, "off": {}}
        try:
            deps = Deps(settings=settings, engine=engine, services=services)
            worker = build_worker(client, deps, task_queue=settings.task_queue)
            [recorder] = [i.recorder for i in worker.config().get("interceptors", ()) if isinstance(i, RecordAttempts)]
            async with worker:

                async def discussion(i: int) -> None:
                    payload = DiscussionInput(team_id=teams[i], source_type="slack", source_thread_id=threads[i])
                    handle = await start_discussion(client, payload, task_queue=settings.task_queue)
                    await handle.result()

                await measure(range(WARM_UP), concurrency, discussion, [])
                size = n // rounds  # equal rounds: a smaller last one would run as one short wave
                for round_no in range(rounds):
                    batch = range(WARM_UP + round_no * size, WARM_UP + (round_no + 1) * size)
                    mode = "on" if round_no % 2 else "off"
                    recorder.enabled = mode == "on" and "attempts" in parts
                    feed = None
                    round_start = datetime.now(UTC)
                    if mode == "on" and "feed" in parts:
                        started = round_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                        scope = f"TaskQueue = '{settings.task_queue}' AND StartTime >= '{started}'"
                        feed = start_feed(settings, scope, log_dir / f"feed-{round_no}.log")
                        await feed_ready(log_dir / f"feed-{round_no}.log")  # before the clock starts
                        feed_started = process_cpu(feed.pid)
                    before = stack.cpu_seconds()
                    seconds[mode] += await measure(batch, concurrency, discussion, latencies[mode])
                    for part, used in stack.cpu_seconds().items():
                        cpu[mode][part] = cpu[mode].get(part, 0.0) + used - before[part]
                    runs[mode] += len(batch)
                    if feed is not None:
                        lags += await wait_final(sessions, round_start, len(batch))
                        cpu[mode]["feed"] = cpu[mode].get("feed", 0.0) + process_cpu(feed.pid) - feed_started
                        feed.send_signal(signal.SIGTERM)
                        await asyncio.to_thread(feed.wait, 30)
                recorder.enabled = True
                rebuilt = await rebuild(client, sessions, scope=f"TaskQueue = '{settings.task_queue}'")
        finally:
            await services.aclose()
            await engine.dispose()

    on_rate, off_rate = runs["on"] / seconds["on"], runs["off"] / seconds["off"]
    lags.sort()
    lags = lags or [float("nan")]
    print(
        f"discussions: {runs['on'] + runs['off']} (+{WARM_UP} warm-up), {concurrency} in flight, "
        f"{rounds} alternating rounds of {n // rounds} (off first)"
    )
    print(
        f"mirror off: {off_rate:.1f} discussions/s, p50 {pct(latencies['off'], 50):.0f} ms, "
        f"p95 {pct(latencies['off'], 95):.0f} ms"
    )
    print(
        f"mirror on:  {on_rate:.1f} discussions/s, p50 {pct(latencies['on'], 50):.0f} ms, "
        f"p95 {pct(latencies['on'], 95):.0f} ms"
    )
    print(
        f"mirror lag over {len(lags)} runs (close in Temporal -> final row in Postgres): "
        f"p50 {quantile(lags, 0.50):.3f} s, p99 {quantile(lags, 0.99):.3f} s, max {lags[-1]:.3f} s"
    )
    for mode in ("off", "on"):
        shares = ", ".join(f"{part} {used / runs[mode] * 1000:.0f}" for part, used in cpu[mode].items())
        print(f"CPU ms per discussion, mirror {mode}: {sum(cpu[mode].values()) / runs[mode] * 1000:.0f} ({shares})")
    print(f"rebuild: {rebuilt.runs} runs in {rebuilt.seconds:.1f} s = {rebuilt.runs / rebuilt.seconds:.1f} runs/s")
    print(f"ratio={on_rate / off_rate:.2f}")


def process_cpu(pid: int) -> float:
    """CPU seconds the feed process used so far (read once it is ready, and after the round's
    runs are all mirrored: the difference is the round's mirroring)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


async def feed_ready(log_path: Path, *, within: float = 60.0) -> None:
    """Once the feed process says it is mirroring (its imports and connections done)."""
    deadline = time.monotonic() + within
    while "mirroring Temporal" not in (log_path.read_text() if log_path.exists() else ""):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the mirror feed did not start; see {log_path}")
        await asyncio.sleep(0.1)


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def wait_final(
    sessions: async_sessionmaker[AsyncSession], since: datetime, count: int, *, within: float = 120.0
) -> list[float]:
    """The lags of the `count` runs started since `since`, once all are final in the mirror."""
    deadline = time.monotonic() + within
    while True:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Execution.close_time, Execution.mirrored_at).where(
                        Execution.start_time >= since, Execution.close_time.is_not(None)
                    )
                )
            ).all()
        if len(rows) >= count or time.monotonic() > deadline:
            return [(mirrored - closed).total_seconds() for closed, mirrored in rows if closed is not None]
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="discussions to run (besides 10 to warm up)")
    parser.add_argument("--concurrency", type=int, default=50, help="runs in flight at once")
    parser.add_argument("--rounds", type=int, default=4, help="alternating off/on rounds")
    parser.add_argument(
        "--on", default="attempts,feed", help="what 'on' turns on: attempts (the recorder), feed, or both (default)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds, set(args.on.split(","))))
