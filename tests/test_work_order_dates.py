"""Dates in ingested work orders: the FM profile's date order, the deployment's default, or no guess at all.

Real PDFs (reportlab), the real ingestion workflows on real Temporal, rows in real PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.deps import Deps
from activities.work_orders import WorkOrderActivities
from client.fm_profiles import set_fm_profile
from client.work_orders import start_file_ingest
from contracts.work_orders import DocumentKind, WorkspaceSpec
from core.errors import ConfigurationError
from core.settings import Settings
from db.models.work_orders import ExtractionRun, FmProfile, SignedDocument, WorkOrder, Workspace
from db.repository import ModelT, Repository
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID
from tests.helpers import intake_cli
from worker import build_worker


def pdf(path: Path, *lines: str) -> Path:
    """A one-page PDF drawn by reportlab, one text line under the other."""
    page = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    page.setFont("Helvetica", 11)
    for row, line in enumerate(lines):
        page.drawString(56, 780 - 16 * row, line)
    page.save()
    return path


def slug() -> str:
    return f"ws-{uuid.uuid4().hex[:8]}"


async def ingest(client: Client, path: Path, workspace: str, task_queue: str, kind: DocumentKind = "workorder"):
    spec = WorkspaceSpec(slug=workspace, spreadsheet_id=SPREADSHEET_ID)
    handle = await start_file_ingest(
        client, path, workspace=spec, kind=kind, task_queue=task_queue, drain_exports=False
    )
    [document] = (await handle.result()).documents
    return document


async def one(sessions: async_sessionmaker[AsyncSession], model: type[ModelT], **filters: Any) -> ModelT:
    async with sessions() as session:
        row = await Repository(model).find_one(session=session, **filters)
    assert row is not None
    return row


async def test_a_month_first_profile_stores_04_07_2024_as_7_april(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    ws = slug()
    await set_fm_profile(
        sessions,
        workspace=ws,
        fm_key="usfm",
        display_name="US Facilities",
        text_markers=["US Facilities Inc"],
        date_order="month_first",
        spreadsheet_id=SPREADSHEET_ID,
    )
    us = pdf(
        tmp_path / "us.pdf",
        "WORK ORDER",
        "Work Order Number: WO-7001",
        "Facility Manager: US Facilities Inc",
        "Date: 04/07/2024",
        "Amount: 120.00",
    )
    # The same date from a sender whose profile sets no order: the deployment's default (day first).
    other = pdf(tmp_path / "other.pdf", "WORK ORDER", "Work Order Number: WO-7002", "Date: 04/07/2024")
    async with make_worker():
        us_doc = await ingest(client, us, ws, task_queue)
        other_doc = await ingest(client, other, ws, task_queue)

    assert (us_doc.outcome, other_doc.outcome) == ("created", "created")
    us_order = await one(sessions, WorkOrder, work_order_number="WO-7001")
    other_order = await one(sessions, WorkOrder, work_order_number="WO-7002")
    assert (us_order.fm_key, us_order.scheduled_date) == ("usfm", date(2024, 4, 7))
    assert (other_order.fm_key, other_order.scheduled_date) == ("default", date(2024, 7, 4))
    run = await one(sessions, ExtractionRun, work_order_id=us_order.id)
    assert (run.fields["scheduled_date"], run.warnings) == ("2024-04-07", [])


async def test_an_ambiguous_date_with_no_order_anywhere_is_stored_empty_with_a_warning(
    client: Client,
    deps: Deps,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    """INTAKE_DATE_ORDER=none and a profile without an order: no guess, the run says what was not read."""
    no_default = dataclasses.replace(deps, settings=deps.settings.model_copy(update={"date_order_setting": "none"}))
    ws = slug()
    order_pdf = pdf(
        tmp_path / "wo.pdf", "WORK ORDER", "Work Order Number: WO-8001", "Date: 04/07/2024", "Amount: 95.00"
    )
    signed_pdf = pdf(
        tmp_path / "signed.pdf",
        "SIGNED WORK ORDER",
        "Work Order Number: WO-8001",
        "Signed by: Ann Bo",
        "Signed date: 03/02/2024",
    )
    dated_pdf = pdf(tmp_path / "dated.pdf", "WORK ORDER", "Work Order Number: WO-8002", "Date: 25/07/2024")
    async with build_worker(client, no_default, task_queue=task_queue):
        created = await ingest(client, order_pdf, ws, task_queue)
        signed = await ingest(client, signed_pdf, ws, task_queue, kind="signed")
        dated = await ingest(client, dated_pdf, ws, task_queue)

    assert (created.outcome, signed.outcome, dated.outcome) == ("created", "matched", "created")
    # The ingestion's result says what was not stored, a line each; a date that read says nothing.
    [line] = created.warnings
    assert line.startswith("scheduled_date: '04/07/2024' is ambiguous") and "left empty" in line
    assert [w.split(":")[0] for w in signed.warnings] == ["signed_on"] and dated.warnings == []
    work_order = await one(sessions, WorkOrder, work_order_number="WO-8001")
    assert work_order.scheduled_date is None
    assert str(work_order.amount) == "95.00"  # the rest of the work order is stored as ever
    run = await one(sessions, ExtractionRun, work_order_id=work_order.id)
    assert run.outcome == "SUCCEEDED" and run.fields["scheduled_date"] is None
    [warning] = run.warnings
    assert (warning["field"], warning["text"]) == ("scheduled_date", "04/07/2024")
    assert "ambiguous: 4 July 2024 (day first) or 7 April 2024 (month first)" in warning["message"]
    assert "INTAKE_DATE_ORDER" in warning["message"]
    # A signed document's date follows the same rule.
    document = await one(sessions, SignedDocument, extracted_work_order_number="WO-8001")
    assert document.signed_on is None and document.signed_by == "Ann Bo"
    signed_run = await one(sessions, ExtractionRun, signed_document_id=document.id)
    assert [(w["field"], w["text"]) for w in signed_run.warnings] == [("signed_on", "03/02/2024")]
    # An unambiguous date needs no order.
    assert (await one(sessions, WorkOrder, work_order_number="WO-8002")).scheduled_date == date(2024, 7, 25)
    assert (await one(sessions, ExtractionRun, file_hash=dated.file_hash)).warnings == []


async def test_a_worker_with_a_bad_intake_date_order_does_not_start(deps: Deps) -> None:
    bad = dataclasses.replace(deps, settings=deps.settings.model_copy(update={"date_order_setting": "us"}))
    try:
        WorkOrderActivities(bad)
    except ConfigurationError as err:
        assert "INTAKE_DATE_ORDER 'us' is not one of day_first, month_first" in str(err)
    else:
        raise AssertionError("a bad INTAKE_DATE_ORDER was accepted")


async def test_the_cli_sets_a_profiles_date_order_and_refuses_a_bad_one(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ws = slug()
    refused = await intake_cli(settings, "workorder", "profile", "set", "usfm", "-w", ws, "--date-order", "mdy")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: date order 'mdy' is not one of day_first, month_first or 'none'"
    ]
    assert "Traceback" not in refused.stderr
    async with sessions() as session:  # nothing half written: not even the workspace
        assert await Repository(Workspace).count(session=session, slug=ws) == 0

    made = await intake_cli(
        settings,
        "workorder",
        "profile",
        "set",
        "usfm",
        "-w",
        ws,
        "--name",
        "US Facilities",
        "--sender-domain",
        "usfm.example",
        "--date-order",
        "month-first",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["date_order"] == "month_first"
    # Updating one thing keeps the others; `none` unsets the order (INTAKE_DATE_ORDER decides again).
    renamed = await intake_cli(settings, "workorder", "profile", "set", "usfm", "-w", ws, "--name", "US FM")
    assert renamed.returncode == 0, renamed.stderr
    profile = await one(sessions, FmProfile, fm_key="usfm")
    assert (profile.display_name, profile.sender_domains, profile.date_order) == (
        "US FM",
        ["usfm.example"],
        "month_first",
    )
    cleared = await intake_cli(settings, "workorder", "profile", "set", "usfm", "-w", ws, "--date-order", "none")
    assert cleared.returncode == 0, cleared.stderr
    listed = await intake_cli(settings, "workorder", "profile", "list", "-w", ws, "--json")
    assert listed.returncode == 0, listed.stderr
    orders = {row["fm_key"]: row["date_order"] for row in json.loads(listed.stdout)}
    assert orders == {"default": None, "acme": None, "northwind": None, "usfm": None}  # with the starter profiles
    table = await intake_cli(
        settings, "workorder", "profile", "list", "-w", ws, INTAKE_DATE_ORDER="month_first", COLUMNS="200"
    )
    assert table.returncode == 0, table.stderr
    assert "usfm" in table.stdout and "(month_first)" in table.stdout  # an unset order shows the default

    bad_default = await intake_cli(settings, "workorder", "profile", "list", "-w", ws, INTAKE_DATE_ORDER="dd/mm")
    assert bad_default.returncode == 2
    assert bad_default.stderr.strip().splitlines() == [
        "error: INTAKE_DATE_ORDER 'dd/mm' is not one of day_first, month_first or 'none'"
    ]
    missing = await intake_cli(settings, "workorder", "profile", "list", "-w", "no-such-workspace")
    assert missing.returncode == 2 and "workspace 'no-such-workspace' does not exist" in missing.stderr
