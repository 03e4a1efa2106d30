"""Benchmark: ingest N generated work-order PDFs, then drain their Sheets exports.

    .venv/bin/python -m bench.workorders --n 1000

Starts its own embedded PostgreSQL, a Temporal dev server, the sandbox and a
worker (all on 127.0.0.1, all stopped at the end), writes N distinct PDFs with
reportlab, ingests them through WorkOrderIngestWorkflow (one run per file,
`--parallel` in flight), then runs ExportDrainWorkflow over the N export jobs.
Prints PDFs/s, exports/s and the Sheets HTTP calls per export job, counted from
the sandbox's call log (every call: reads and appends); the last line is
`sheets_calls_per_job=<x>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.deps import Deps
from client.work_orders import load_export_status, start_export_drain, start_file_ingest
from contracts.exports import ExportDrainInput
from contracts.work_orders import WorkspaceSpec
from core.settings import Settings
from db import admin
from db.engine import create_engine
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID
from sandbox.server import SandboxServer
from stack.postgres import EmbeddedPostgres, remove_cluster
from stack.temporal import OFFLINE_ENV, OFFLINE_FLAGS, temporal_cli
from worker import build_worker
from workflows.search_attributes import ALL

SITES = ["12 Harbour Street, Dockside", "48 Mill Road, Eastgate", "3 Station Square, Riverside"]


def write_pdfs(directory: Path, n: int) -> list[Path]:
    """N one-page work orders, each with its own number (so each is a new work order)."""
    paths = []
    for i in range(n):
        path = directory / f"WO-{20000 + i}.pdf"
        page = canvas.Canvas(str(path), pagesize=A4, invariant=1)
        page.setFont("Helvetica", 11)
        lines = [
            "WORK ORDER",
            f"Work Order Number: WO-{20000 + i}",
            "Facility Manager: ACME Facilities",
            f"Site: {SITES[i % len(SITES)]}",
            f"Date: 2024-07-{1 + i % 28:02d}",
            f"Amount: {100 + (i * 37) % 5000:,}.{i % 100:02d}",
            f"Description: Bench job number {i}",
        ]
        for row, line in enumerate(lines):
            page.drawString(56, 780 - 16 * row, line)
        page.save()
        paths.append(path)
    return paths


async def bench(n: int, parallel: int, concurrency: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    postgres = EmbeddedPostgres(root / "pg", fast=True)
    sandbox = SandboxServer(seed=0)
    env: WorkflowEnvironment | None = None
    try:
        url = postgres.start()
        await asyncio.to_thread(admin.migrate, url)
        sandbox_url = await sandbox.start("127.0.0.1", 0)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            data_converter=pydantic_data_converter,
            search_attributes=ALL,
            dev_server_extra_args=OFFLINE_FLAGS,
        )
        task_queue = f"bench-{uuid.uuid4()}"
        settings = Settings(database_url=url, task_queue=task_queue, sandbox_url=sandbox_url, state_dir=root / "state")
        engine = create_engine(url, pool_size=20)
        services = build_clients(settings)
        deps = Deps(settings=settings, engine=engine, services=services)
        (root / "pdfs").mkdir()
        pdfs = write_pdfs(root / "pdfs", n)
        workspace = WorkspaceSpec(slug="bench", spreadsheet_id=SPREADSHEET_ID)
        try:
            async with (
                build_worker(env.client, deps, task_queue=task_queue, max_concurrent_activities=64),
                SandboxControl(sandbox_url) as control,
            ):
                gate = asyncio.Semaphore(parallel)

                async def ingest(path: Path) -> str:
                    async with gate:
                        handle = await start_file_ingest(
                            env.client,
                            path,
                            workspace=workspace,
                            kind="workorder",
                            task_queue=task_queue,
                            drain_exports=False,
                        )
                        return (await handle.result()).documents[0].outcome

                started = time.perf_counter()
                outcomes = await asyncio.gather(*(ingest(path) for path in pdfs))
                ingest_s = time.perf_counter() - started
                created = outcomes.count("created")

                await control.reset(seed=0)  # an empty sheet and call log for the export
                started = time.perf_counter()
                drain = await start_export_drain(
                    env.client, task_queue=task_queue, input=ExportDrainInput(concurrency=concurrency, batch_size=100)
                )
                totals = (await drain.result()).totals
                drain_s = time.perf_counter() - started
                calls = await control.calls("sheets")
                status = await load_export_status(deps.sessions)
        finally:
            await services.aclose()
            await engine.dispose()
        print(f"pdfs={n} created={created} ingest_seconds={ingest_s:.2f} pdfs_per_s={n / ingest_s:.1f}")
        print(
            f"exported={totals.exported} failed={totals.failed} export_seconds={drain_s:.2f} "
            f"exports_per_s={totals.exported / drain_s:.1f} jobs={status['counts']}"
        )
        appends = sum(1 for c in calls if c["operation"] == "spreadsheets.values.append")
        print(f"sheets_calls={len(calls)} (appends={appends}, reads={len(calls) - appends})")
        print(f"sheets_calls_per_job={len(calls) / max(totals.exported, 1):.2f}")
    finally:
        if env is not None:
            await env.shutdown()
        await sandbox.stop()
        postgres.stop()
        remove_cluster(root / "pg")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="PDFs to ingest and export")
    parser.add_argument("--parallel", type=int, default=32, help="ingestion workflows in flight")
    parser.add_argument("--concurrency", type=int, default=4, help="exports in flight in the drain")
    args = parser.parse_args()
    os.environ.update(OFFLINE_ENV)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(bench(args.n, args.parallel, args.concurrency))


if __name__ == "__main__":
    main()
