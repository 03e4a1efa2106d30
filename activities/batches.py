"""Activities of the batch pipeline: plan a stored CSV file into chunks, process a chunk, fan in.

The file's bytes are in Postgres (`batches.raw_data`, stored by the client before the
workflow starts): an activity reads what it needs by byte range, and Temporal carries only
ids, indexes and counts.

A chunk is ONE transaction: it locks its batch_chunks row, and when the chunk is COMPLETED
already (a retry after the commit, a new run of the batch) it returns the stored counts and
writes nothing. Otherwise it reads its rows, checks each one (`read_row`), writes the good
ones through the work-order ingestion write that PDFs use (the work order by its number, its
export job: `WorkOrderRepository.stage` + `ingest_staged`, by the file's row numbers), makes
the processed rows from what was staged and bulk-inserts the error rows,
then marks the chunk COMPLETED with its counts and the step that ran it. A bad row never
fails the chunk: it is an error row with a reason naming the column.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.deps import Deps
from contracts.batches import (
    BatchImportResult,
    FailChunkInput,
    FinishBatchInput,
    PlanBatchInput,
    PlanBatchResult,
    ProcessChunkInput,
    ProcessChunkResult,
    planned_chunk_size,
)
from core.batch_csv import COLUMNS, Record, check_header, field_of, parse_records, split_records
from core.dates import DateOrder, UnreadableDateError, read_date
from core.errors import MalformedFileError, NotFoundError
from db.models.batches import Batch, BatchChunk
from db.repositories.batches import (
    BatchChunkRepository,
    BatchRepository,
    ChunkCounts,
    ErrorRowRepository,
    ProcessedRowRepository,
    RowError,
)
from db.repositories.work_orders import FmProfileRepository, WorkOrderFields, WorkOrderRepository, WorkspaceRepository
from db.uow import unit_of_work
from integrations.pdf_extract import (
    MAX_AMOUNT,
    ProfileRules,
    date_order_for,
    facility_manager_for,
    parse_amount,
)

MAX_NUMBER_CHARS = 100
_SPACE = re.compile(r"\s")
_READ = frozenset(COLUMNS)


class BatchActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._date_order = deps.settings.date_order
        self._batches = BatchRepository()
        self._chunks = BatchChunkRepository()
        self._processed = ProcessedRowRepository()
        self._errors = ErrorRowRepository()
        self._workspaces = WorkspaceRepository()
        self._profiles = FmProfileRepository()
        self._work_orders = WorkOrderRepository()

    @activity.defn(name="batches_plan")
    async def plan(self, input: PlanBatchInput) -> PlanBatchResult:
        """Split the stored file into chunks of the batch's chunk size (`planned_chunk_size`: fewer
        rows each when the file would not fill the import's window), once (a repeat returns the plan).

        Duplicates are found here, over the whole file: a work order number seen on an earlier
        row makes the later row an error, whichever chunk runs first. A file that is not a
        batch file (stored by a caller that did not check it) fails the batch, with no chunks.
        """
        batch_id = uuid.UUID(input.batch_id)
        async with unit_of_work(self._sessions) as session:
            batch = await self._batch(session, batch_id, lock=True)
            if batch.chunk_count > 0:
                if batch.status == "FAILED":  # a new run of a failed batch: its failed chunks run again
                    await self._batches.update_by_id(batch_id, session=session, status="RUNNING", error=None)
                return PlanBatchResult(chunk_count=batch.chunk_count, row_count=batch.row_count)
            data = await self._batches.raw_data(batch_id, session=session)
            try:
                columns, body = check_header(data)
                # CPU-bound for a big file: in a thread, so heartbeats (and other activities) go on.
                records, duplicates = await asyncio.to_thread(_records_and_duplicates, data, body, columns)
            except MalformedFileError as err:
                await self._batches.update_by_id(batch_id, session=session, status="FAILED", error=str(err))
                return PlanBatchResult(chunk_count=0, row_count=0)
            chunks = []
            size = planned_chunk_size(batch.chunk_size, len(records), input.max_in_flight)
            for index, start in enumerate(range(0, len(records), size)):
                part = records[start : start + size]
                chunks.append(
                    {
                        "chunk_index": index,
                        "first_row": part[0].row_number,
                        "last_row": part[-1].row_number,
                        "byte_start": part[0].start,
                        "byte_end": part[-1].end,
                        "duplicates": {
                            str(r.row_number): duplicates[r.row_number] for r in part if r.row_number in duplicates
                        },
                    }
                )
            await self._chunks.create_all(batch_id, chunks, session=session)
            await self._batches.update_by_id(
                batch_id,
                session=session,
                status="RUNNING",
                row_count=len(records),
                chunk_count=len(chunks),
                started_at=func.now(),
                workflow_id=activity.info().workflow_id,
            )
        return PlanBatchResult(chunk_count=len(chunks), row_count=len(records))

    @activity.defn(name="batches_process_chunk")
    async def process_chunk(self, input: ProcessChunkInput) -> ProcessChunkResult:
        """Process one chunk's rows in one transaction, once; see the module's docstring."""
        batch_id = uuid.UUID(input.batch_id)
        info = activity.info()
        async with unit_of_work(self._sessions) as session:
            chunk = await self._chunks.lock(batch_id, input.chunk_index, session=session)
            if chunk is None:
                raise NotFoundError(f"batch {batch_id} has no chunk {input.chunk_index}")
            if chunk.status == "COMPLETED":
                return _chunk_result(chunk, replayed=True)
            batch = await self._batch(session, batch_id)
            workspace = await self._workspaces.find_by_id(batch.workspace_id, session=session)
            assert workspace is not None
            rules = RowRules(
                [
                    ProfileRules.model_validate(row, from_attributes=True)
                    for row in await self._profiles.for_workspace(workspace.id, session=session)
                ],
                workspace=workspace.slug,
                default_order=self._date_order,
            )
            data = await self._batches.read_bytes(batch_id, chunk.byte_start, chunk.byte_end, session=session)
            # CPU-bound: in a thread, so heartbeats and the other chunks' statements go on.
            good, bad = await asyncio.to_thread(_read_chunk, data, chunk, batch.columns, rules)
            # The rows are staged by their row numbers: the processed rows are made from them.
            staged = await self._work_orders.stage(good, session=session)
            ingested = await self._work_orders.ingest_staged(workspace, staged, session=session)
            await self._processed.insert_staged(batch_id, chunk.chunk_index, session=session)
            await self._errors.insert_many(batch_id, chunk.chunk_index, bad, session=session)
            counts = ChunkCounts(
                processed=staged, errors=len(bad), created=ingested.created, existing=ingested.existing
            )
            await self._chunks.complete(
                batch_id,
                chunk.chunk_index,
                counts,
                workflow_id=info.workflow_id,
                attempt=info.attempt,
                session=session,
            )
        return ProcessChunkResult(
            chunk_index=input.chunk_index,
            status="COMPLETED",
            processed=counts.processed,
            errors=counts.errors,
            created=counts.created,
            existing=counts.existing,
            exports_enqueued=ingested.exports_enqueued,
        )

    @activity.defn(name="batches_fail_chunk")
    async def fail_chunk(self, input: FailChunkInput) -> ProcessChunkResult:
        """Record that a chunk's attempts ran out (it wrote nothing); a COMPLETED chunk stays COMPLETED."""
        batch_id = uuid.UUID(input.batch_id)
        async with unit_of_work(self._sessions) as session:
            await self._chunks.fail(
                batch_id, input.chunk_index, input.error, workflow_id=activity.info().workflow_id, session=session
            )
            chunk = await self._chunks.lock(batch_id, input.chunk_index, session=session)
            assert chunk is not None
        return _chunk_result(chunk, replayed=False)

    @activity.defn(name="batches_finish")
    async def finish(self, input: FinishBatchInput) -> BatchImportResult:
        """Fan in: the batch's status and counts from its chunks (the same on a repeat)."""
        batch_id = uuid.UUID(input.batch_id)
        async with unit_of_work(self._sessions) as session:
            batch = await self._batches.finish(batch_id, session=session)
            failed = await self._chunks.find_many(
                session=session, batch_id=batch_id, status="FAILED", order_by=[BatchChunk.chunk_index]
            )
        return BatchImportResult(
            batch_id=str(batch.id),
            status=batch.status,
            row_count=batch.row_count,
            processed=batch.processed_count,
            errors=batch.error_count,
            created=batch.created_count,
            existing=batch.existing_count,
            chunk_count=batch.chunk_count,
            failed_chunks=[chunk.chunk_index for chunk in failed],
            runs=input.runs,
            error=batch.error,
        )

    async def _batch(self, session: AsyncSession, batch_id: uuid.UUID, *, lock: bool = False) -> Batch:
        if lock:
            batch = await self._batches.lock(batch_id, session=session)
        else:
            batch = await self._batches.find_by_id(batch_id, session=session)
        if batch is None:
            raise NotFoundError(f"no batch {batch_id}")
        return batch


def _read_chunk(
    data: bytes, chunk: BatchChunk, columns: list[str], rules: RowRules
) -> tuple[list[tuple[int, WorkOrderFields]], list[RowError]]:
    """A chunk's rows (its bytes of the file), read: (row number, fields) of each good one, and the errors."""
    records = split_records(data)
    if len(records) != chunk.last_row - chunk.first_row + 1:
        raise MalformedFileError(
            f"chunk {chunk.chunk_index} of batch {chunk.batch_id} holds {len(records)} rows, "
            f"not rows {chunk.first_row}-{chunk.last_row}: the stored file changed?"
        )
    good: list[tuple[int, WorkOrderFields]] = []
    bad: list[RowError] = []
    texts = [data[record.start : record.end].decode("utf-8") for record in records]
    duplicates = chunk.duplicates
    read_row = rules.reader(columns)
    for offset, (raw, values) in enumerate(zip(texts, parse_records(texts), strict=True)):
        row_number = chunk.first_row + offset
        if duplicates and (earlier := duplicates.get(str(row_number))) is not None:
            reason = f"work_order_number repeats row {earlier} of this file; a work order is imported once"
            bad.append(RowError(row_number, raw, "work_order_number", reason))
            continue
        read = read_row(values)
        if isinstance(read, WorkOrderFields):
            good.append((row_number, read))
        else:
            column, reason = read
            bad.append(RowError(row_number, raw, column, reason))
    return good, bad


def _records_and_duplicates(data: bytes, body: int, columns: list[str]) -> tuple[list[Record], dict[int, int]]:
    """The file's records, and each row whose work order number an earlier row has (-> that row)."""
    records = split_records(data, body)
    number_at = columns.index("work_order_number")
    first_row: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    for record in records:
        number = field_of(data, record, number_at).strip().upper()
        if number:
            seen = first_row.setdefault(number, record.row_number)
            if seen != record.row_number:
                duplicates[record.row_number] = seen
    return records, duplicates


def _chunk_result(chunk: BatchChunk, *, replayed: bool) -> ProcessChunkResult:
    return ProcessChunkResult(
        chunk_index=chunk.chunk_index,
        status=chunk.status,
        processed=chunk.processed_count,
        errors=chunk.error_count,
        created=chunk.created_count,
        existing=chunk.existing_count,
        replayed=replayed,
        error=chunk.error,
    )


class RowRules:
    """How one CSV row becomes a work order's fields, by the rules of a PDF's: the FM profile
    (the row's `fm_key`, else the workspace's default profile) decides the date order and the
    facility manager's name; money is numeric(12,2) as `parse_amount` reads it. A row that
    breaks a rule is (column, reason), the reason naming the column."""

    def __init__(self, profiles: list[ProfileRules], *, workspace: str, default_order: DateOrder | None) -> None:
        self._profiles = {profile.fm_key: profile for profile in profiles}
        self._default = next((profile for profile in profiles if profile.is_default), None)
        self._workspace = workspace
        self._default_order = default_order
        # The same text reads the same way: a file repeats its dates and amounts a lot.
        self._dates: dict[tuple[str, DateOrder | None], date | str] = {}
        self._amounts: dict[str, Decimal | None] = {}

    def _date(self, text: str, order: DateOrder | None) -> date | str:
        """The date `text` names in `order`, or the reason it names none."""
        key = (text, order)
        if (known := self._dates.get(key)) is not None:
            return known
        try:
            read: date | str = read_date(text, order=order)
        except UnreadableDateError as err:
            read = f"scheduled_date {text!r}: {err}"
        self._dates[key] = read
        return read

    def read(self, columns: Sequence[str], values: list[str]) -> RowRead:
        """One row of a file with these columns: its fields, or (column, reason)."""
        return self.reader(columns)(values)

    def reader(self, columns: Sequence[str]) -> Callable[[list[str]], RowRead]:
        """`read` for the rows of a file with these columns, which finds each column once, not
        once a row (a chunk reads thousands of rows)."""
        width = len(columns)
        # The annotation columns of an errors file are not read; the header names a column once.
        at = {name: index for index, name in enumerate(columns) if name in _READ}
        number_at = at["work_order_number"]
        fm_key_at, manager_at, site_at, date_at, amount_at, description_at = (at.get(name) for name in COLUMNS[1:])
        profiles, default, amounts = self._profiles, self._default, self._amounts

        def read(values: list[str]) -> RowRead:
            if len(values) != width:
                return None, f"the row has {len(values)} fields where the header has {width}"
            number = values[number_at].strip().upper()
            if not number:
                return "work_order_number", "work_order_number is missing"
            if len(number) > MAX_NUMBER_CHARS or _SPACE.search(number):
                return "work_order_number", f"work_order_number {number[:40]!r} is not a work order number"
            profile = default
            if fm_key_at is not None and (fm_key := values[fm_key_at].strip()):
                profile = profiles.get(fm_key)
                if profile is None:
                    known = ", ".join(sorted(profiles))
                    return "fm_key", f"fm_key {fm_key!r} is no FM profile of workspace {self._workspace!r} ({known})"
            amount = None
            if amount_at is not None and (text := values[amount_at].strip()):
                amount = amounts[text] if text in amounts else amounts.setdefault(text, parse_amount(text))
                if amount is None:
                    return "amount", f"amount {text!r} is not an amount of money (e.g. 1250.00, at most {MAX_AMOUNT})"
            scheduled: date | None = None
            if date_at is not None and (text := values[date_at].strip()):
                read = self._date(text, date_order_for(profile, self._default_order))
                if isinstance(read, str):
                    return "scheduled_date", read
                scheduled = read
            return WorkOrderFields(
                number,
                profile.fm_key if profile else None,
                facility_manager_for(_optional(values, manager_at), profile),
                _optional(values, site_at),
                scheduled,
                amount,
                _optional(values, description_at),
            )

        return read


RowRead = WorkOrderFields | tuple[str | None, str]


def _optional(values: list[str], index: int | None) -> str | None:
    """The field at `index`, stripped; None when the file has no such column or the field is empty."""
    return (values[index].strip() or None) if index is not None else None
