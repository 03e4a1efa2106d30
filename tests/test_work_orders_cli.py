"""`intake workorder|signed ingest`, `intake export drain|status`, `intake report preview`, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.work_orders import MAX_PDF_BYTES
from client.work_orders import file_digest
from contracts.exports import ExportDrainInput, RequeueFailedInput, export_drain_workflow_id
from contracts.work_orders import DocumentKind, file_ingest_workflow_id
from core.settings import Settings
from sandbox.control import SandboxControl
from sandbox.seed_mail import (
    SPREADSHEET_ID,
    WORK_ORDERS,
    signed_work_order_pdf,
    work_order_pdf,
)
from tests.helpers import intake_cli
from tests.test_cli_bad_input import never_started, refused
from tests.test_work_order_dates import pdf
from workflows.exports import ExportDrainWorkflow


async def run(settings: Settings, *args: str):
    return await intake_cli(settings, *args, INTAKE_SPREADSHEET_ID=SPREADSHEET_ID)


async def test_ingest_files_drain_and_preview(
    settings: Settings, make_worker, sandbox: SandboxControl, tmp_path: Path
) -> None:
    files = []
    for order in WORK_ORDERS:
        files.append(tmp_path / f"{order.number}.pdf")
        files[-1].write_bytes(work_order_pdf(order))
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"not a pdf at all")
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signed_work_order_pdf(WORK_ORDERS[0], "Jordan Lee", "2024-06-14"))
    signed_again = tmp_path / "signed-again.pdf"
    signed_again.write_bytes(signed_work_order_pdf(WORK_ORDERS[0], "Sam Poe", "2024-06-20"))
    workspace = f"ws-{uuid.uuid4().hex[:8]}"

    async with make_worker():
        ingested = await run(settings, "workorder", "ingest", *map(str, files), str(bad), "-w", workspace, "--json")
        repeated = await run(settings, "workorder", "ingest", str(files[0]), "-w", workspace, "--json")
        matched = await run(settings, "signed", "ingest", str(signed), "-w", workspace, "--json")
        refused = await run(settings, "signed", "ingest", str(signed_again), "-w", workspace)
        drained = await run(settings, "export", "drain", "--json")
    status = await run(settings, "export", "status", "--json")
    preview = await run(settings, "report", "preview", "--json")

    # A bad file makes the command fail (exit 1) after ingesting the rest.
    assert ingested.returncode == 1, ingested.stderr
    outcomes = {doc["filename"]: doc["outcome"] for doc in json.loads(ingested.stdout)}
    assert outcomes == {**{f.name: "created" for f in files}, "scan.pdf": "failed"}
    assert repeated.returncode == 0 and [d["is_new"] for d in json.loads(repeated.stdout)] == [False]
    assert [d["outcome"] for d in json.loads(matched.stdout)] == ["matched"]
    assert refused.returncode == 1 and "already matched" in refused.stdout
    assert drained.returncode == 0, drained.stderr
    assert json.loads(status.stdout)["counts"] == {"PENDING": 0, "PROCESSING": 0, "DONE": 5, "FAILED": 0}
    rows = json.loads(preview.stdout)
    assert sorted(r["work_order_number"] for r in rows) == [o.number for o in WORK_ORDERS]
    assert {r["export_status"] for r in rows} == {"DONE"}
    assert [r["status"] for r in rows if r["work_order_number"] == "WO-10042"] == ["SIGNED"]
    sheet = await sandbox.spreadsheet(SPREADSHEET_ID)
    assert len(sheet["Work Orders"]) == 1 + len(WORK_ORDERS) and sheet["Signed"][1][:2] == ["WO-10042", "Jordan Lee"]


async def test_a_file_too_big_is_a_failed_row_and_the_others_are_ingested(
    settings: Settings, make_worker, sandbox: SandboxControl, tmp_path: Path
) -> None:
    good = tmp_path / "WO-10042.pdf"
    good.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    big = tmp_path / "huge.pdf"
    with big.open("wb") as stream:
        stream.truncate(MAX_PDF_BYTES + 1)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    async with make_worker():
        ingested = await run(settings, "workorder", "ingest", str(good), str(big), "-w", workspace, "--json")

    assert ingested.returncode == 1, ingested.stderr
    assert "Traceback" not in ingested.stderr
    rows = {doc["filename"]: doc for doc in json.loads(ingested.stdout)}
    assert rows["WO-10042.pdf"]["outcome"] == "created"
    assert rows["huge.pdf"]["outcome"] == "failed" and "at most" in rows["huge.pdf"]["error"]


async def test_export_retry_of_a_bad_id_is_refused_and_a_bad_request_does_not_end_the_drain(
    settings: Settings,
    client: Client,
    make_worker,
    task_queue: str,
) -> None:
    refused = await run(settings, "export", "retry", "not-a-uuid", "--no-wait")
    assert refused.returncode == 2 and "not an export job id" in refused.stderr
    assert "Traceback" not in refused.stderr

    # Past the client's check (an older client, a hand-made signal): the drain logs it and goes on.
    async with make_worker():
        handle = await client.start_workflow(
            ExportDrainWorkflow.run,
            ExportDrainInput(),
            id=export_drain_workflow_id(task_queue),
            task_queue=task_queue,
            start_signal="retry_failed",
            start_signal_args=[RequeueFailedInput(job_ids=["not-a-uuid"])],
        )
        result = await asyncio.wait_for(handle.result(), 120)  # a bound, not a timing assert
    assert result.totals.exported == 0


@pytest.mark.parametrize("kind", ["workorder", "signed"])
@pytest.mark.parametrize(
    "case, reason",
    [("missing", "missing.pdf: no such file"), ("directory", "is a directory"), ("fifo", "is not a regular file")],
)
async def test_ingest_refuses_a_path_that_is_not_a_file_before_any_run_starts(
    settings: Settings,
    engine: AsyncEngine,
    client: Client,
    make_worker,
    tmp_path: Path,
    kind: DocumentKind,
    case: str,
    reason: str,
) -> None:
    good = tmp_path / "WO-10042.pdf"
    good.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    (tmp_path / "a-directory").mkdir()
    os.mkfifo(tmp_path / "fifo.pdf")
    bad = {"missing": "missing.pdf", "directory": "a-directory", "fifo": "fifo.pdf"}[case]
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    async with make_worker():  # were a run started, it would run rather than hang
        line = await refused(settings, engine, kind, "ingest", str(good), str(tmp_path / bad), "-w", workspace)
    assert line.startswith("error:") and reason in line and bad in line
    assert await never_started(client, file_ingest_workflow_id(kind, workspace, file_digest(good)))


@pytest.mark.parametrize("kind", ["workorder", "signed"])
@pytest.mark.parametrize("slug", ["", "Bad Slug!", "-leading-dash", "x" * 64])
async def test_ingest_refuses_a_workspace_slug_of_the_wrong_shape(
    settings: Settings, engine: AsyncEngine, client: Client, make_worker, tmp_path: Path, kind: str, slug: str
) -> None:
    pdf = tmp_path / "WO-10042.pdf"
    pdf.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    async with make_worker():
        line = await refused(settings, engine, kind, "ingest", str(pdf), "-w", slug)
    assert line.startswith("error: workspace: slug:") and "is not a workspace slug" in line


async def test_signed_ingest_refuses_a_workspace_that_does_not_exist(
    settings: Settings, engine: AsyncEngine, client: Client, make_worker, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signed_work_order_pdf(WORK_ORDERS[0], "Jordan Lee", "2024-06-14"))
    workspace = f"nosuchws-{uuid.uuid4().hex[:8]}"
    async with make_worker():
        line = await refused(settings, engine, "signed", "ingest", str(signed), "-w", workspace)
        gmail = await refused(
            settings, engine, "signed", "ingest", "--gmail", "ops@example.com", "--message", "m1", "-w", workspace
        )
    for said in (line, gmail):
        assert f"no workspace {workspace!r}" in said and f"`intake workorder ingest PDF... -w {workspace}`" in said
    assert await never_started(client, file_ingest_workflow_id("signed", workspace, file_digest(signed)))


async def test_ingest_says_which_field_it_did_not_store_and_why(
    settings: Settings, make_worker, tmp_path: Path
) -> None:
    """A work order whose date is no date is created without it, and the table's line says so."""
    path = pdf(tmp_path / "odd-date.pdf", "WORK ORDER", "Work Order Number: WO-7301", "Date: 31/02/2024")
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    async with make_worker():
        shown = await run(settings, "workorder", "ingest", str(path), "-w", workspace)
    assert shown.returncode == 0, shown.stderr
    [row] = [line for line in shown.stdout.splitlines() if "odd-date.pdf" in line]
    assert "WO-7301" in row and "created" in row
    assert "scheduled_date: '31/02/2024' is not a date: February 2024 has no day 31; left empty" in row
