"""`intake batch import|status|errors` as a user runs them, and a batch whose worker is killed mid-way."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from client.batches import read_batch_file, start_batch_import, store_batch
from core.settings import Settings
from db.models.batches import BatchChunk, ErrorRow, ProcessedRow
from db.models.work_orders import ExportJob, WorkOrder, Workspace
from tests.helpers import intake_cli
from tests.test_batches import EXPECTED_ERRORS, count, csv_bytes, good_row, sample_file, workspace
from tests.test_cli_bad_input import refused

ROOT = Path(__file__).resolve().parent.parent


async def test_import_status_errors_and_the_fixed_errors_reimported(
    settings: Settings, make_worker, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(sample_file(tmp_path).data)
    ws = f"ws-{uuid.uuid4().hex[:8]}"
    async with make_worker():
        imported = await intake_cli(settings, "batch", "import", str(path), "--kind", "work-orders", "-w", ws,
                                    "--chunk-size", "4", "--team", "team-cli", "--json")  # fmt: skip
        batch_id = json.loads(imported.stdout)["batch_id"]
        again = await intake_cli(settings, "batch", "import", str(path), "-w", ws, "--json")
        status = await intake_cli(settings, "batch", "status", batch_id, "--json")
        shown = await intake_cli(settings, "batch", "status", batch_id)
        as_csv = await intake_cli(settings, "batch", "errors", batch_id, "--csv")
        # Fix the error rows' file (a number, an amount, a profile, a date; drop the duplicate
        # and the row with a field too many) and import it: the fixed rows become work orders.
        fixed = (
            as_csv.stdout.replace(",twelve dollars,", ",12.00,")
            .replace(",nobody,", ",acme,")
            .replace("31/02/2024", "28/02/2024")
            .replace("\n21,work_order_number,work_order_number is missing,,", "\n21,,,WO-00900,")
        )
        kept = [line for line in fixed.splitlines() if not line.startswith(("24,", "26,"))]
        (tmp_path / "fixed.csv").write_text("\n".join(kept) + "\n")
        reimported = await intake_cli(settings, "batch", "import", str(tmp_path / "fixed.csv"), "-w", ws, "--json")

    assert imported.returncode == 0, imported.stderr
    out = json.loads(imported.stdout)
    assert (out["status"], out["rows"], out["processed"], out["errors"], out["is_new"]) == (
        "COMPLETED",
        28,
        22,
        6,
        True,
    )
    assert out["chunks"] == {"PENDING": 0, "COMPLETED": 7, "FAILED": 0}
    assert again.returncode == 0 and json.loads(again.stdout)["batch_id"] == batch_id
    assert json.loads(again.stdout)["is_new"] is False
    data = json.loads(status.stdout)
    assert [(e["row"], e["column"]) for e in data["first_errors"]] == list(EXPECTED_ERRORS.items())[:5]
    assert shown.returncode == 0 and f"intake batch errors {batch_id} --csv" in shown.stdout
    assert "22 processed (22 new work orders, 0 existing), 6 errors" in shown.stdout
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "error_row,error_column,error_reason,work_order_number,fm_key,facility_manager,site," \
        "scheduled_date,amount,description"  # fmt: skip
    assert len(lines) == 7 and lines[2].startswith("22,amount,\"amount 'twelve dollars' is not an amount")
    assert reimported.returncode == 0, reimported.stderr
    again_out = json.loads(reimported.stdout)
    assert (again_out["processed"], again_out["created"], again_out["errors"]) == (4, 4, 0)
    assert await count(sessions, WorkOrder) == 26
    # --team gave the new workspace to the team: its tokens (and dashboard) see the batch.
    assert await count(sessions, Workspace, slug=ws, team_id="team-cli") == 1


async def test_bad_input_is_refused_before_anything_is_written(
    settings: Settings, engine: AsyncEngine, client: Client, tmp_path: Path
) -> None:
    not_csv = tmp_path / "scan.csv"
    not_csv.write_bytes(b"%PDF-1.7\n\x00\x00\x01\x02")
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_bytes(b"number,amount\nWO-1,10\n")
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([good_row(1)]))
    cases = [
        (("batch", "import", str(not_csv), "-w", "ws1"), "not a CSV file: it holds NUL bytes"),
        (("batch", "import", str(wrong_header), "-w", "ws1"), "wrong header: unknown column 'number'"),
        (("batch", "import", str(good), "--chunk-size", "0"), "a chunk size is 1 to 50000 rows"),
        (("batch", "status", "not-an-id"), "'not-an-id' is not a batch id"),
        (("batch", "errors", str(uuid.uuid4()), "--csv"), "no batch"),
    ]
    for args, message in cases:
        line = await refused(settings, engine, *args)
        assert message in line, (args, line)


@pytest.fixture
def doomed_worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m worker` on the test's task queue, to be killed by the test (and at the end)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_TASK_QUEUE": settings.task_queue,
        "SANDBOX_URL": settings.resolved_sandbox_url() or "",
        "INTAKE_STATE_DIR": str(settings.state_dir),
    }
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def test_a_worker_killed_mid_batch_finishes_with_the_same_counts(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    doomed_worker: subprocess.Popen[bytes],
) -> None:
    rows = [good_row(n) for n in range(1, 401)] + [good_row(7), good_row(999, amount="n/a")]
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes(rows))
    ws = workspace()
    stored = await store_batch(sessions, read_batch_file(path), workspace=ws, chunk_size=10)
    handle = await start_batch_import(
        client, stored, workspace=ws.slug, task_queue=task_queue, max_in_flight=2, drain_exports=False
    )
    # Kill the worker once it has committed some chunks, and not all of them.
    deadline = time.monotonic() + 60
    while await count(sessions, BatchChunk, status="COMPLETED") < 3:
        assert time.monotonic() < deadline and doomed_worker.poll() is None
        await asyncio.sleep(0.02)
    doomed_worker.send_signal(signal.SIGKILL)
    doomed_worker.wait(timeout=30)
    done_when_killed = await count(sessions, BatchChunk, status="COMPLETED")
    assert done_when_killed < 41
    async with make_worker():
        result = await handle.result()

    assert (result.status, result.chunk_count, result.failed_chunks) == ("COMPLETED", 41, [])
    assert (result.processed, result.created, result.errors) == (400, 400, 2)
    assert await count(sessions, WorkOrder) == 400 and await count(sessions, ExportJob) == 400
    assert await count(sessions, ProcessedRow) == 400 and await count(sessions, ErrorRow) == 2
