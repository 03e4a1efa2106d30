"""Benchmark: the Slack webhook's ack. N signed app_mention events, each in a thread of its own,
against POST /webhooks/slack/events on a real uvicorn (bench/webhooks_server.py, a process of its
own on a free port), with no worker on its task queue, so the ack cannot lean on the pipeline:
every answer is the signature check, the mapping read (cached) and the event's row in the webhook
inbox, committed; the API's starter starts the runs from the inbox meanwhile, on the same
machine. The baseline is a bare FastAPI route answering 200 on the same uvicorn, driven the same
way in the same run.

    .venv/bin/python -m bench.webhooks --n 2000 --concurrency 50 --rounds 4

The two alternate in rounds, so a change in the machine's load hits both alike. Prints p50/p99
ack latency and events/s for both, waits for the inbox to drain (every event's run started once,
counted in Temporal), and last `ratio=<x>`
(our events/s divided by the bare route's requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import psutil

from bench.stack import BenchStack, bench_stack
from client.webhook_inbox import inbox_summary
from client.webhooks import link_source
from db.admin import DEMO_NOTION_DATABASE_ID
from db.engine import create_engine, create_sessionmaker
from db.repositories.discussions import SourceConfigRepository
from db.uow import unit_of_work
from stack.processes import free_port, stop_process_group, wait_for_port

SECRET = "bench-signing-secret"
WORKSPACE = "T0BENCH"
BOT_USER = "U0BENCHBOT"


def envelope(i: int, run: str) -> bytes:
    """An app_mention in a thread of its own (as Slack's documented envelope has it)."""
    thread_ts = f"{1718000000 + i}.{run}"
    return json.dumps(
        {
            "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
            "team_id": WORKSPACE,
            "api_app_id": "A0BENCH",
            "event": {
                "type": "app_mention",
                "user": "U0ALICE",
                "text": f"<@{BOT_USER}> turn this thread into tasks",
                "ts": f"{1718000000 + i}.{int(run) + 1:06d}",
                "thread_ts": thread_ts,
                "channel": "C0BENCH",
                "event_ts": f"{1718000000 + i}.{int(run) + 1:06d}",
            },
            "type": "event_callback",
            "event_id": f"Ev{run}{i:08d}",
            "event_time": 1718000000 + i,
            "authorizations": [{"team_id": WORKSPACE, "user_id": BOT_USER, "is_bot": True}],
        }
    ).encode()


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


async def measure(
    indexes: range, concurrency: int, send: Callable[[int], Awaitable[None]], latencies: list[float]
) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in indexes))
    return time.perf_counter() - started


@contextmanager
def cpu_used(stack: BenchStack, api: psutil.Process, totals: dict[str, float]) -> Iterator[None]:
    """Add the CPU seconds each process uses inside the block to `totals` ("load" is this process,
    the load generator; "api" the uvicorn under test)."""

    def reading() -> dict[str, float]:
        parts = stack.cpu_seconds()
        times = api.cpu_times()
        return {
            "api": times.user + times.system,
            "temporal": parts["temporal"],
            "postgres": parts["postgres"],
            "load": parts["worker"],
        }

    before = reading()
    yield
    for part, seconds in reading().items():
        totals[part] = totals.get(part, 0.0) + seconds - before[part]


def cpu_line(totals: dict[str, float], n: int) -> str:
    parts = ", ".join(f"{part} {seconds / n * 1000:.2f}" for part, seconds in totals.items())
    return f"{sum(totals.values()) / n * 1000:.2f} ms ({parts})"


async def wait_drained(database_url: str, rows: int, *, timeout: float) -> int:
    """Wait until the inbox holds `rows` settled rows and none pending; the settled count."""
    engine = create_engine(database_url, pool_size=1)
    try:
        deadline = time.monotonic() + timeout
        while True:
            summary = await inbox_summary(create_sessionmaker(engine))
            if (summary.pending == 0 and summary.settled >= rows) or time.monotonic() > deadline:
                return summary.settled
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def main(n: int, concurrency: int, rounds: int) -> None:
    async with bench_stack() as stack:
        engine = create_engine(stack.database_url, pool_size=5)
        sessions = create_sessionmaker(engine)
        team = f"bench-{uuid.uuid4().hex[:6]}"
        async with unit_of_work(sessions) as session:
            await SourceConfigRepository().ensure(
                session=session,
                team_id=team,
                source_type="slack",
                name="bench",
                notion_database_id=DEMO_NOTION_DATABASE_ID,
            )
        await link_source(sessions, team_id=team, source_type="slack", external_id=WORKSPACE)
        await engine.dispose()

        port = free_port()
        task_queue = f"bench-no-worker-{uuid.uuid4()}"
        env = {
            **os.environ,
            "DATABASE_URL": stack.database_url,
            "TEMPORAL_ADDRESS": stack.temporal_address,
            "SANDBOX_URL": stack.sandbox_url,
            # A task queue no worker polls: the ack cannot lean on the pipeline.
            "INTAKE_TASK_QUEUE": task_queue,
            "SLACK_SIGNING_SECRET": SECRET,
            "INTAKE_STATE_DIR": str(Path(tempfile.gettempdir()) / f"intake-bench-state-{uuid.uuid4()}"),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.webhooks_server", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            await asyncio.to_thread(wait_for_port, "127.0.0.1", port, timeout=30, name="API", process=server)
            run = f"{int(time.time()) % 1_000_000:06d}"
            bodies = [envelope(i, run) for i in range(n)]
            outcomes: dict[str, int] = {}
            failures: list[str] = []
            # aiohttp as the load generator: it spends far less CPU per request than httpx, and the
            # machine's two cores are shared by the load, the API, Temporal and PostgreSQL.
            connector = aiohttp.TCPConnector(limit=concurrency)
            timeout = aiohttp.ClientTimeout(total=30)
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:

                async def post(path: str, body: bytes) -> tuple[int, bytes]:
                    async with http.post(path, data=body, headers=signed(body)) as response:
                        return response.status, await response.read()

                async def bare(i: int) -> None:
                    status, _ = await post("/bench/bare", bodies[i])
                    if status != 200:
                        failures.append(f"bare {status}")

                async def webhook(i: int) -> None:
                    status, answer = await post("/webhooks/slack/events", bodies[i])
                    if status != 200:
                        failures.append(f"webhook {status}: {answer[:200]!r}")
                        return
                    outcome = json.loads(answer)["outcome"]
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1

                # Warm up both (connections, the mapping cache, the Temporal client), off the record.
                warm = [envelope(n + i, run) for i in range(20)]
                for body in warm:
                    await post("/bench/bare", body)
                    await post("/webhooks/slack/events", body)

                base_lat: list[float] = []
                lat: list[float] = []
                base_seconds = seconds = 0.0
                base_cpu: dict[str, float] = {}
                cpu: dict[str, float] = {}
                api_process = psutil.Process(server.pid)
                size = -(-n // rounds)
                drain_cpu: dict[str, float] = {}
                drain_seconds = 0.0
                drained = await wait_drained(stack.database_url, len(warm), timeout=600)
                for start in range(0, n, size):
                    batch = range(start, min(n, start + size))
                    with cpu_used(stack, api_process, base_cpu):
                        base_seconds += await measure(batch, concurrency, bare, base_lat)
                    with cpu_used(stack, api_process, cpu):
                        seconds += await measure(batch, concurrency, webhook, lat)
                    # The round's acks are in; the API's starter has been draining the inbox into
                    # Temporal meanwhile: let it finish before the next round, so the bare route's
                    # next round never runs beside our starts.
                    last_ack = time.perf_counter()
                    with cpu_used(stack, api_process, drain_cpu):
                        drained = await wait_drained(stack.database_url, len(warm) + batch.stop, timeout=600)
                    drain_seconds += time.perf_counter() - last_ack
            started_runs = await stack.client.count_workflows(f"TaskQueue = '{task_queue}'")
        finally:
            stop_process_group(server)

    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    base_rate, rate = n / base_seconds, n / seconds
    print(f"bare route: {n} requests, {concurrency} in flight, {rounds} rounds: {base_rate:.0f} requests/s, "
          f"p50 {pct(base_lat, 50):.1f} ms, p99 {pct(base_lat, 99):.1f} ms")  # fmt: skip
    print(f"slack events: {n} signed app_mentions, no worker: {rate:.0f} events/s, "
          f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat) * 1000:.0f} ms")  # fmt: skip
    print(f"CPU per bare request: {cpu_line(base_cpu, n)}")
    print(f"CPU per slack event:  {cpu_line(cpu, n)}")
    print(f"CPU per start after the acks: {cpu_line(drain_cpu, n)}")
    print(f"outcomes: {dict(sorted(outcomes.items()))} (each event its own thread: all should be accepted)")
    if outcomes.get("accepted") != n:
        raise SystemExit("not every event was accepted")
    print(
        f"inbox: {drained} rows settled, {started_runs.count} runs in Temporal on the queue; the starter "
        f"finished {drain_seconds / rounds:.1f} s after each round's last ack on average, "
        f"{n / (seconds + drain_seconds):.0f} starts/s over the whole run"
    )
    if drained != n + 20 or started_runs.count != n + 20:
        raise SystemExit("not every accepted event's run was started once")
    print(f"ratio={rate / base_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="events (and bare requests) to send")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument("--rounds", type=int, default=4, help="alternating bare/webhook rounds")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds))
