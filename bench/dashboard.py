"""Benchmark: server time of each dashboard page over a large team, and the plans behind them.

    .venv/bin/python -m bench.dashboard [--work-items 100000] [--jobs 10000] [--work-orders 10000]
        [--runs 10000] [--batches 1000] [--requests 40]

Starts an embedded PostgreSQL (deleted on exit), migrates it, seeds the rows
(db/dashboard_seed.py: 5 teams, the measured one owning half of every table), and serves the
real app in process (create_app, its own engine; Temporal is never reached by these pages).
Signs in through the sign-in form, then GETs every page `--requests` times after two warm-up
requests and prints p50/p95 milliseconds per page, measured around the ASGI call (routing,
session check, the queries, rendering). Then prints, for every statement the pages ran, the
tables PostgreSQL read by a sequential scan (there should be none of the big tables).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from api.app import create_app
from client.api_tokens import create_token
from core.settings import Settings
from db import admin
from db.dashboard_seed import Seeded, analyze, seed
from db.plans import captured, scans
from stack.postgres import EmbeddedPostgres, remove_cluster

TEAMS = ["bench-main", "bench-b", "bench-c", "bench-d", "bench-e"]
BIG_TABLES = {
    "work_items",
    "gate_evaluations",
    "proposed_actions",
    "workflow_runs",
    "workflow_events",
    "audit_logs",
    "gmail_drafts",
    "jobs",
    "discussions",
    "work_orders",
    "work_order_sources",
    "extraction_runs",
    "export_jobs",
    "executions",
    "execution_steps",
    "job_attempts",
    "timers",
    "execution_history",
    "batches",
    "batch_chunks",
    "error_rows",
}
NEXT = re.compile(r'href="(/ui/jobs\?cursor=[^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def pages(seeded: Seeded) -> list[tuple[str, str]]:
    return [
        ("inbox", "/ui/inbox"),
        ("inbox queue refresh", "/ui/inbox/queue"),
        ("work item", f"/ui/items/{seeded.work_item_id}"),
        ("jobs", "/ui/jobs"),
        ("jobs failed", "/ui/jobs?status=failed"),
        ("jobs stage", "/ui/jobs?stage=task_creation"),
        ("job", f"/ui/jobs/{seeded.job_id}"),
        ("discussion", f"/ui/discussions/{seeded.discussion_id}"),
        ("work orders", "/ui/work-orders"),
        ("work order", f"/ui/work-orders/{seeded.work_order_id}"),
        ("runs", "/ui/runs"),
        ("runs failed", "/ui/runs?status=failed"),
        *([("run", "/ui/runs/{}/{}".format(*seeded.run))] if seeded.run else []),
        *([("batch", f"/ui/batches/{seeded.batch_id}")] if seeded.batch_id else []),
    ]


async def measure(http: httpx.AsyncClient, path: str, requests: int) -> list[float]:
    for _ in range(2):
        assert (await http.get(path)).status_code == 200, path
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await http.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="intake-bench-dashboard-"))
    server = EmbeddedPostgres(root / "pg", fast=True)
    try:
        url = server.start()
        await asyncio.to_thread(admin.migrate, url)
        settings = Settings(database_url=url, temporal_address="127.0.0.1:9", state_dir=root / "state")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            services = app.state.services
            started = time.perf_counter()
            seeded = await seed(
                services.engine,
                teams=TEAMS,
                work_items=args.work_items,
                jobs=args.jobs,
                work_orders=args.work_orders,
                mirrored_runs=args.runs,
                batch_imports=args.batches,
            )
            await analyze(services.engine)
            print(
                f"seeded {args.work_items} work items, {args.jobs} jobs, {args.work_orders} work orders, "
                f"{args.runs} runs, {args.batches} batches "
                f"over {len(TEAMS)} teams (half of each the measured team's) in {time.perf_counter() - started:.1f} s"
            )
            token, _ = await create_token(services.sessions, team_id=TEAMS[0])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
                form = await http.get("/ui/sign-in")
                csrf = CSRF.search(form.text)
                assert csrf
                signed = await http.post("/ui/sign-in", data={"token": token, "csrf_token": csrf.group(1)})
                assert signed.status_code == 303
                older = NEXT.search((await http.get("/ui/jobs")).text)
                listing = pages(seeded) + ([("jobs page 2", older.group(1).replace("&amp;", "&"))] if older else [])
                print(f"{'page':<22}{'p50 ms':>9}{'p95 ms':>9}")
                statements = []
                for name, path in listing:
                    with captured(services.engine) as seen:
                        times = await measure(http, path, args.requests)
                    statements.extend(seen[: len(seen) // (args.requests + 2)])  # one request's statements
                    print(f"{name:<22}{statistics.median(times):>9.1f}{p95(times):>9.1f}")
            seq = []
            for statement, parameters in statements:
                for node, table in await scans(services.engine, statement, parameters):
                    if node == "Seq Scan" and table in BIG_TABLES:
                        seq.append((table, statement.split("FROM", 1)[-1][:120]))
            print(f"plans: {len(statements)} statements, sequential scans of big tables: {len(seq)}")
            for table, where in seq:
                print(f"  seq scan {table}: ...FROM{where}")
    finally:
        server.stop()
        remove_cluster(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-items", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--work-orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10_000, help="mirrored runs (each with 3 steps, 4 attempts)")
    parser.add_argument("--batches", type=int, default=1_000, help="batch imports (each of 10 chunks)")
    parser.add_argument("--requests", type=int, default=40)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
