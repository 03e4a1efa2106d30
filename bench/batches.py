"""Benchmark: a CSV of work orders through BatchImportWorkflow, against one raw asyncpg COPY of the same rows.

    .venv/bin/python -m bench.batches [--rows 100000] [--chunk-size 10000] [--in-flight 4]

Starts its own stack (embedded PostgreSQL with fast settings, the Temporal dev server, the
sandbox; 127.0.0.1, all stopped and deleted at the end) and a worker in this process. For
each size (1,000, 10,000 and `--rows`) it writes a CSV of distinct, valid work orders and
loads it twice, into two fresh workspaces:

- ours: `store_batch` (the file into Postgres) + `BatchImportWorkflow` to its result: plan,
  one child per chunk with `--in-flight` at a time, each chunk's work orders, processed rows
  (and export jobs with `--spreadsheet`) in one transaction, the fan-in;
- raw: the same file parsed with `csv` and its rows written into work_orders with ONE
  `copy_records_to_table` by raw asyncpg: the limit we measure ourselves against.

Prints rows/s of both and the cost per row (microseconds) at every size, which should stay
flat as the file grows, with the CPU each part of the stack spent per row (this process: the
worker and the bench; PostgreSQL; the Temporal server), which a loaded machine does not skew as
much as wall time; the last line is `ratio=<ours / raw>` (rows/s) at `--rows`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import logging
import time
import uuid
from datetime import date
from decimal import Decimal

import asyncpg

from activities.deps import Deps
from bench.stack import bench_stack
from client.batches import BatchFile, start_batch_import, store_batch
from contracts.batches import DEFAULT_CHUNK_SIZE
from contracts.work_orders import WorkspaceSpec
from core.batch_csv import COLUMNS, check_file
from core.settings import Settings
from db.engine import create_engine, create_sessionmaker
from db.models.work_orders import WorkOrder
from db.repositories.work_orders import WorkspaceRepository
from db.repository import Repository
from db.uow import unit_of_work
from integrations.factory import build_clients
from sandbox.seed_mail import SPREADSHEET_ID
from worker import build_worker

SITES = ["12 Harbour Street, Dockside", "48 Mill Road, Eastgate", '3 "Station" Square, Riverside']


def make_csv(rows: int, tag: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(rows):
        writer.writerow(
            [
                f"WO-{tag}-{i:07d}",
                ("acme", "northwind", "")[i % 3],
                "",
                SITES[i % len(SITES)],
                f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024",
                f"{(i % 5000) + 0.25:.2f}",
                f"Replace filter {i} in the plant room",
            ]
        )
    return out.getvalue().encode()


def batch_file(data: bytes, name: str) -> BatchFile:
    import hashlib

    columns, body = check_file(data)
    return BatchFile(
        name=name, data=data, file_hash=hashlib.sha256(data).hexdigest(), columns=columns, body_offset=body
    )


async def raw_copy(url: str, workspace_id: uuid.UUID, data: bytes) -> float:
    """Parse the CSV and COPY its rows into work_orders on one raw asyncpg connection; seconds taken."""
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        reader = csv.reader(io.StringIO(data.decode("utf-8")))
        next(reader)
        records = []
        for number, fm_key, manager, site, scheduled, amount, description in reader:
            day, month, year = scheduled.split("/")
            records.append(
                (
                    workspace_id,
                    number,
                    fm_key or "default",
                    manager or None,
                    site,
                    date(int(year), int(month), int(day)),
                    Decimal(amount),
                    description,
                )
            )
        await connection.copy_records_to_table(
            "work_orders",
            records=records,
            columns=[
                "workspace_id",
                "work_order_number",
                "fm_key",
                "facility_manager",
                "site",
                "scheduled_date",
                "amount",
                "description",
            ],
        )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def run(sizes: list[int], chunk_size: int, in_flight: int, spreadsheet: bool) -> None:
    logging.basicConfig(level=logging.WARNING)
    async with bench_stack() as stack:
        task_queue = f"bench-batches-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            database_url=stack.database_url,
            temporal_address=stack.temporal_address,
            task_queue=task_queue,
            sandbox_url=stack.sandbox_url,
        )
        engine = create_engine(stack.database_url, pool_size=in_flight + 4)
        sessions = create_sessionmaker(engine)
        services = build_clients(settings)
        deps = Deps(settings=settings, engine=engine, services=services)
        print(
            f"chunks of {chunk_size} rows, {in_flight} in flight, export jobs {'on' if spreadsheet else 'off'}; "
            "PostgreSQL at 127.0.0.1 (fsync off), Temporal dev server, worker in this process"
        )
        ratio = 0.0
        try:
            async with build_worker(stack.client, deps, task_queue=task_queue):
                for rows in sizes:
                    tag = uuid.uuid4().hex[:6]
                    data = make_csv(rows, tag)
                    raw_ws = f"raw-{tag}"
                    async with unit_of_work(sessions) as session:
                        raw_workspace, _ = await WorkspaceRepository().get_or_create(session=session, slug=raw_ws)
                    cpu_before = stack.cpu_seconds()
                    raw_seconds = await raw_copy(stack.database_url, raw_workspace.id, data)
                    cpu_raw = _spent(cpu_before, stack.cpu_seconds())

                    ours_ws = WorkspaceSpec(slug=f"ours-{tag}", spreadsheet_id=SPREADSHEET_ID if spreadsheet else None)
                    cpu_before = stack.cpu_seconds()
                    started = time.perf_counter()
                    stored = await store_batch(
                        sessions, batch_file(data, f"{rows}.csv"), workspace=ours_ws, chunk_size=chunk_size
                    )
                    handle = await start_batch_import(
                        stack.client,
                        stored,
                        workspace=ours_ws.slug,
                        task_queue=task_queue,
                        max_in_flight=in_flight,
                        drain_exports=False,
                    )
                    result = await handle.result()
                    ours_seconds = time.perf_counter() - started
                    cpu_ours = _spent(cpu_before, stack.cpu_seconds())
                    assert (result.status, result.created, result.errors) == ("COMPLETED", rows, 0), result
                    async with sessions() as session:
                        stored_rows = await Repository(WorkOrder).count(session=session)
                    assert stored_rows >= 2 * rows
                    ratio = raw_seconds / ours_seconds
                    for label, seconds, cpu in (
                        ("raw asyncpg COPY", raw_seconds, cpu_raw),
                        ("BatchImportWorkflow", ours_seconds, cpu_ours),
                    ):
                        spent = "  ".join(f"{part} {used / rows * 1e6:5.1f}" for part, used in cpu.items())
                        print(
                            f"{rows:>7} rows  {label:<22} {seconds:7.2f} s = {rows / seconds:9.0f} rows/s, "
                            f"{seconds / rows * 1e6:7.1f} us/row; CPU us/row: {spent}",
                            flush=True,
                        )
                    print(f"{rows:>7} rows  ratio {ratio:.2f} ({result.chunk_count} chunks)", flush=True)
        finally:
            await services.aclose()
            await engine.dispose()
        print(f"ratio={ratio:.2f}")


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each part of the stack spent between two readings (the sandbox is idle here)."""
    return {part: after[part] - before[part] for part in ("worker", "postgres", "temporal")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the main run (default 100,000)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--spreadsheet", action="store_true", help="the workspace exports: export jobs too")
    args = parser.parse_args()
    sizes = sorted({size for size in (1_000, 10_000) if size < args.rows} | {args.rows})
    asyncio.run(run(sizes, args.chunk_size, args.in_flight, args.spreadsheet))


if __name__ == "__main__":
    main()
