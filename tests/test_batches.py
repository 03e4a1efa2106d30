"""ETL batches: a CSV file of work orders through BatchImportWorkflow, on real Temporal and PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.batches import BatchActivities, RowRules
from activities.deps import Deps
from client.batches import BatchFile, StoredBatch, read_batch_file, start_batch_import, store_batch
from contracts.batches import (
    DEFAULT_CHUNK_SIZE,
    BatchImportResult,
    PlanBatchInput,
    ProcessChunkInput,
    chunk_workflow_id,
    planned_chunk_size,
)
from contracts.work_orders import WorkspaceSpec
from core.batch_csv import COLUMNS, check_file, split_records
from core.errors import MalformedFileError
from db.models.batches import Batch, BatchChunk, ErrorRow, ProcessedRow
from db.models.work_orders import ExportJob, WorkOrder
from db.repositories.batches import ErrorRowRepository
from db.repositories.work_orders import FmProfileRepository, WorkOrderFields
from db.repository import Repository
from integrations.pdf_extract import ProfileRules
from sandbox.seed_mail import SPREADSHEET_ID
from tests.helpers import record_history
from workflows.search_attributes import BATCH_ID, WORKSPACE


def good_row(n: int, **values: str) -> dict[str, str]:
    return {
        "work_order_number": f"WO-{n:05d}",
        "fm_key": "acme",
        "facility_manager": "",
        "site": f"{n} Harbour Street",
        "scheduled_date": "2024-06-10",
        "amount": f"{n}.50",
        "description": f"Job {n}",
        **values,
    }


def csv_bytes(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# 20 good rows, then one of each kind of bad row (rows 21-26), then 2 more good ones.
BAD_ROWS = [
    good_row(900, work_order_number=""),
    good_row(901, amount="twelve dollars"),
    good_row(902, fm_key="nobody"),
    good_row(3),  # WO-00003 again: row 3 has it
    good_row(903, scheduled_date="31/02/2024"),
    good_row(904),
]
EXPECTED_ERRORS = {
    21: "work_order_number",
    22: "amount",
    23: "fm_key",
    24: "work_order_number",
    25: "scheduled_date",
    26: None,  # a field too many
}


def sample_rows() -> list[dict[str, str]]:
    return [good_row(n) for n in range(1, 21)] + BAD_ROWS + [good_row(21), good_row(22)]


def sample_file(tmp_path: Path, rows: list[dict[str, str]] | None = None, name: str = "orders.csv") -> BatchFile:
    data = csv_bytes(rows or sample_rows())
    # Row 26 gets a field too many (an unquoted comma), after the header check.
    data = data.replace(b"Job 904", b"Job 904,extra")
    path = tmp_path / name
    path.write_bytes(data)
    return read_batch_file(path)


def workspace(spreadsheet: bool = True) -> WorkspaceSpec:
    return WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID if spreadsheet else None)


async def count(sessions: async_sessionmaker[AsyncSession], model: type, **filters: Any) -> int:
    async with sessions() as session:
        return await Repository(model).count(session=session, **filters)


async def import_file(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    file: BatchFile,
    ws: WorkspaceSpec,
    task_queue: str,
    **options: Any,
) -> tuple[StoredBatch, BatchImportResult, Any]:
    stored = await store_batch(sessions, file, workspace=ws, chunk_size=options.pop("chunk_size", 5))
    handle = await start_batch_import(
        client, stored, workspace=ws.slug, task_queue=task_queue, drain_exports=False, **options
    )
    return stored, await handle.result(), handle


async def test_a_batch_fans_out_by_chunk_and_fans_in_to_its_counts(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ws = workspace()
    async with make_worker():
        stored, result, handle = await import_file(
            client, sessions, sample_file(tmp_path), ws, task_queue, max_in_flight=2
        )
        await record_history(handle, "batch_import")
        await record_history(client.get_workflow_handle(chunk_workflow_id(stored.batch_id, 4)), "batch_chunk")
        described = await handle.describe()

    assert (result.status, result.row_count, result.chunk_count) == ("COMPLETED", 28, 6)
    assert (result.processed, result.created, result.existing, result.errors) == (22, 22, 0, 6)
    assert described.typed_search_attributes.get(BATCH_ID) == stored.batch_id
    assert described.typed_search_attributes.get(WORKSPACE) == ws.slug
    # The work orders and their export jobs, once each, through the PDFs' ingestion write.
    assert await count(sessions, WorkOrder) == 22 and await count(sessions, ExportJob) == 22
    assert await count(sessions, ProcessedRow, outcome="CREATED") == 22
    async with sessions() as session:
        order = await Repository(WorkOrder).find_one(session=session, work_order_number="WO-00007")
        errors = await ErrorRowRepository().first(uuid.UUID(stored.batch_id), session=session, limit=100)
        chunks = await Repository(BatchChunk).find_many(session=session, order_by=[BatchChunk.chunk_index])
        batch = await Repository(Batch).find_by_id(uuid.UUID(stored.batch_id), session=session)
    assert order is not None and (str(order.amount), order.fm_key, order.facility_manager) == (
        "7.50",
        "acme",
        "ACME Facilities",  # the FM profile's name, as a PDF without one gets
    )
    assert {row.row_number: row.column_name for row in errors} == EXPECTED_ERRORS
    reasons = {row.row_number: row.reason for row in errors}
    assert "repeats row 3" in reasons[24] and "'nobody'" in reasons[23] and "twelve dollars" in reasons[22]
    assert "8 fields where the header has 7" in reasons[26]
    assert errors[0].raw_row == ",acme,,900 Harbour Street,2024-06-10,900.50,Job 900"
    assert [(c.first_row, c.last_row, c.status) for c in chunks] == [
        (1, 5, "COMPLETED"),
        (6, 10, "COMPLETED"),
        (11, 15, "COMPLETED"),
        (16, 20, "COMPLETED"),
        (21, 25, "COMPLETED"),
        (26, 28, "COMPLETED"),
    ]
    assert chunks[4].workflow_id == f"batch/{stored.batch_id}/chunk/4" and chunks[4].attempt == 1
    assert batch is not None and (batch.status, batch.processed_count, batch.error_count) == ("COMPLETED", 22, 6)


async def test_a_batch_continues_as_new_carrying_its_window(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ws = workspace(spreadsheet=False)
    async with make_worker():
        _, result, handle = await import_file(
            client,
            sessions,
            sample_file(tmp_path),
            ws,
            task_queue,
            chunk_size=3,
            max_in_flight=2,
            max_children_per_run=3,
        )
        first_run = await client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id).describe()
    # 28 rows in chunks of 3: 10 children, at most 3 per run -> 4 runs.
    assert (result.status, result.chunk_count, result.runs) == ("COMPLETED", 10, 4)
    assert (result.processed, result.errors) == (22, 6)
    assert first_run.status is not None and first_run.status.name == "CONTINUED_AS_NEW"
    assert await count(sessions, WorkOrder) == 22 and await count(sessions, ExportJob) == 0  # no spreadsheet


async def test_a_chunk_retried_after_its_commit_writes_nothing_twice(
    deps: Deps, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    stored = await store_batch(sessions, sample_file(tmp_path), workspace=workspace(), chunk_size=10)
    activities = BatchActivities(deps)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"batch/{stored.batch_id}/chunk/2")
    plan = await env.run(activities.plan, PlanBatchInput(batch_id=stored.batch_id))
    assert (plan.chunk_count, plan.row_count) == (3, 28)
    assert await env.run(activities.plan, PlanBatchInput(batch_id=stored.batch_id)) == plan
    first = await env.run(activities.process_chunk, ProcessChunkInput(batch_id=stored.batch_id, chunk_index=2))
    env.info = dataclasses.replace(env.info, attempt=2)
    retried = await env.run(activities.process_chunk, ProcessChunkInput(batch_id=stored.batch_id, chunk_index=2))

    assert (first.processed, first.errors, first.created, first.replayed) == (2, 6, 2, False)
    assert (retried.processed, retried.errors, retried.created, retried.replayed) == (2, 6, 2, True)
    assert await count(sessions, WorkOrder) == 2 and await count(sessions, ExportJob) == 2
    assert await count(sessions, ProcessedRow) == 2 and await count(sessions, ErrorRow) == 6
    assert await count(sessions, BatchChunk, status="COMPLETED") == 1 and await count(sessions, Batch) == 1


async def test_the_same_file_twice_is_the_same_batch_and_known_work_orders_are_existing_rows(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ws = workspace()
    file = sample_file(tmp_path)
    # A second file: 5 work orders of the first (rows 1-5) and 3 new ones.
    other = sample_file(tmp_path, [good_row(n) for n in (1, 2, 3, 4, 5, 500, 501, 502)], name="more.csv")
    async with make_worker():
        first, one, _ = await import_file(client, sessions, file, ws, task_queue)
        again, two, _ = await import_file(client, sessions, file, ws, task_queue)
        _, three, _ = await import_file(client, sessions, other, ws, task_queue)

    assert again.batch_id == first.batch_id and (first.is_new, again.is_new) == (True, False)
    assert (two.processed, two.errors, two.created) == (one.processed, one.errors, one.created) == (22, 6, 22)
    assert (three.processed, three.created, three.existing, three.errors) == (8, 3, 5, 0)
    assert await count(sessions, Batch) == 2 and await count(sessions, WorkOrder) == 25
    assert await count(sessions, ExportJob) == 25  # a known work order keeps its one export job
    assert await count(sessions, ProcessedRow, outcome="EXISTING") == 5
    assert await count(sessions, ProcessedRow) == 22 + 8 and await count(sessions, ErrorRow) == 6


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.4\n\x00\x01binary", "NUL bytes"),
        (b"\xff\xfe\x00w\x00o", "NUL bytes"),
        (b"caf\xe9,amount\n", "not UTF-8"),
        (b"", "empty"),
        (b"number,amount\nWO-1,10\n", "unknown column 'number'"),
        (b"amount,site\n10,x\n", "no 'work_order_number' column"),
        (b"work_order_number,amount,amount\nWO-1,1,2\n", "appears 2 times"),
        (b'work_order_number,description\nWO-1,ok\nWO-2,"never closed\nWO-3,x\n', "row 2 opens a quoted field"),
    ],
)
def test_a_malformed_file_is_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(MalformedFileError, match=message):
        check_file(data)


def test_records_split_on_quote_parity_so_quoted_fields_may_hold_line_breaks() -> None:
    data = b'\xef\xbb\xbfwork_order_number,description\r\nWO-1,"two\r\nlines, and ""quotes"""\r\n\r\nWO-2,plain\n'
    columns, body = check_file(data)
    records = split_records(data, body)
    assert columns == ["work_order_number", "description"]
    assert [(r.row_number, data[r.start : r.end]) for r in records] == [
        (1, b'WO-1,"two\r\nlines, and ""quotes"""'),
        (2, b"WO-2,plain"),
    ]


async def test_row_rules_read_dates_in_the_fm_profiles_order(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    ws = workspace()
    await store_batch(sessions, sample_file(tmp_path), workspace=ws)  # makes the workspace and its profiles
    async with sessions() as session:
        rows = await FmProfileRepository().find_many(session=session)
    profiles = [ProfileRules.model_validate(row, from_attributes=True) for row in rows]
    profiles = [p.model_copy(update={"date_order": "month_first"}) if p.fm_key == "acme" else p for p in profiles]
    rules = RowRules(profiles, workspace=ws.slug, default_order="day_first")
    columns = ["work_order_number", "fm_key", "scheduled_date", "amount"]
    acme = rules.read(columns, ["wo-1", "acme", "04/07/2024", "$1,250"])
    default = rules.read(columns, ["WO-2", "", "04/07/2024", ""])
    assert isinstance(acme, WorkOrderFields) and isinstance(default, WorkOrderFields)
    assert (acme.work_order_number, str(acme.scheduled_date), str(acme.amount)) == ("WO-1", "2024-04-07", "1250.00")
    assert (default.fm_key, str(default.scheduled_date), default.amount) == ("default", "2024-07-04", None)
    assert rules.read(columns, ["WO-3", "", "", "99999999999"]) == (
        "amount",
        "amount '99999999999' is not an amount of money (e.g. 1250.00, at most 9999999999.99)",
    )


async def test_the_example_file_imports_as_the_readme_says(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    example = read_batch_file(Path(__file__).resolve().parent.parent / "examples" / "work_orders.csv")
    ws = workspace()
    async with make_worker():
        stored, result, _ = await import_file(client, sessions, example, ws, task_queue, chunk_size=3)
    assert (result.status, result.row_count, result.processed, result.errors) == ("COMPLETED", 9, 4, 5)
    async with sessions() as session:
        errors = await ErrorRowRepository().first(uuid.UUID(stored.batch_id), session=session, limit=10)
        multiline = await Repository(WorkOrder).find_one(session=session, work_order_number="WO-30004")
        northwind = await Repository(WorkOrder).find_one(session=session, work_order_number="WO-30002")
    assert [(e.row_number, e.column_name) for e in errors] == [
        (5, "work_order_number"),
        (6, "amount"),
        (7, "fm_key"),
        (8, "work_order_number"),
        (9, "scheduled_date"),
    ]
    assert (
        multiline is not None
        and multiline.description == "Quarterly fire-door inspection:\ndoors 1-12, report attached"
    )
    assert multiline.amount is not None and str(multiline.amount) == "2400.00"
    # 04/07/2024 read day first (INTAKE_DATE_ORDER's default; the northwind profile sets none).
    assert northwind is not None and str(northwind.scheduled_date) == "2024-07-04"


async def test_a_plan_of_more_chunks_than_one_statement_takes(
    deps: Deps, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    path.write_bytes(csv_bytes([good_row(n) for n in range(1, 2502)]))
    stored = await store_batch(sessions, read_batch_file(path), workspace=workspace(), chunk_size=1)
    plan = await ActivityEnvironment().run(BatchActivities(deps).plan, PlanBatchInput(batch_id=stored.batch_id))
    assert (plan.chunk_count, plan.row_count) == (2501, 2501)
    async with sessions() as session:
        last = await Repository(BatchChunk).find_one(session=session, chunk_index=2500)
    assert last is not None and (last.first_row, last.last_row, last.status) == (2501, 2501, "PENDING")


def test_a_file_too_small_to_fill_the_window_is_split_across_it() -> None:
    assert planned_chunk_size(10_000, 100_000, 4) == 10_000  # the window fills with full chunks
    assert planned_chunk_size(10_000, 10_000, 4) == 2_500  # one chunk would run alone
    assert planned_chunk_size(10_000, 2_500, 4) == 1_000  # not under 1,000 rows a chunk
    assert planned_chunk_size(10_000, 600, 4) == 1_000
    assert planned_chunk_size(5, 28, 2) == 5  # never over the chunk size asked for
    assert planned_chunk_size(10_000, 0, 4) == 1_000


async def test_a_small_file_runs_its_chunks_side_by_side(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "small.csv"
    path.write_bytes(csv_bytes([good_row(n) for n in range(1, 2_501)]))
    async with make_worker():
        stored, result, _ = await import_file(
            client,
            sessions,
            read_batch_file(path),
            workspace(),
            task_queue,
            chunk_size=DEFAULT_CHUNK_SIZE,
            max_in_flight=4,
        )
    assert (result.status, result.chunk_count, result.created) == ("COMPLETED", 3, 2_500)
    async with sessions() as session:
        chunks = await Repository(BatchChunk).find_many(
            session=session, batch_id=uuid.UUID(stored.batch_id), order_by=[BatchChunk.chunk_index]
        )
    assert [(c.first_row, c.last_row, c.processed_count) for c in chunks] == [
        (1, 1_000, 1_000),
        (1_001, 2_000, 1_000),
        (2_001, 2_500, 500),
    ]
