"""Import a CSV file of work orders as a batch, and read batches back (CLI, API, dashboard, bench).

Importing is two steps: the file is checked (a malformed file, not CSV or with a wrong
header, is refused before anything is written) and stored in Postgres in one transaction
(`store_batch`: the workspace created on first use, as work-order ingestion does, and the
batch by the file's sha256, so the same file twice is the same batch); then
`BatchImportWorkflow` runs it (`start_batch_import`), carrying only the batch's id.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from client.work_orders import check_local_files
from contracts.batches import (
    BATCH_KINDS,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_IN_FLIGHT,
    MAX_CHILDREN_PER_RUN,
    BatchImportInput,
    BatchImportResult,
    BatchKind,
    batch_workflow_id,
)
from contracts.exports import export_drain_workflow_id
from contracts.work_orders import WorkspaceSpec
from core.batch_csv import ANNOTATION_COLUMNS, check_file, parse_record
from core.errors import InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.batches import Batch
from db.repositories.batches import BatchChunkRepository, BatchRepository, ErrorRowRepository
from db.repositories.work_orders import WorkspaceRepository
from db.uow import unit_of_work
from workflows.batches import BatchImportWorkflow
from workflows.search_attributes import BATCH_ID, WORKSPACE

MAX_CHUNK_SIZE = 50_000


@dataclass(frozen=True)
class BatchFile:
    """A checked batch file: its bytes, header and where its rows start."""

    name: str
    data: bytes
    file_hash: str
    columns: list[str]
    body_offset: int


@dataclass(frozen=True)
class StoredBatch:
    batch_id: str
    workspace_id: str
    is_new: bool
    status: str


def batch_kind(text: str) -> BatchKind:
    for kind in BATCH_KINDS:
        if text == kind:
            return kind
    raise InvalidInputError(f"--kind {text!r} is not a batch kind: {', '.join(BATCH_KINDS)}")


def chunk_size_of(value: int) -> int:
    if not 1 <= value <= MAX_CHUNK_SIZE:
        raise InvalidInputError(f"a chunk size is 1 to {MAX_CHUNK_SIZE} rows, not {value}")
    return value


def read_batch_file(path: Path) -> BatchFile:
    """The file, checked: MalformedFileError (exit 2) when it is no batch file, before anything is written."""
    [path] = check_local_files([path])
    data = path.read_bytes()
    columns, body = check_file(data)
    return BatchFile(
        name=path.name, data=data, file_hash=hashlib.sha256(data).hexdigest(), columns=columns, body_offset=body
    )


async def store_batch(
    sessions: async_sessionmaker[AsyncSession],
    file: BatchFile,
    *,
    workspace: WorkspaceSpec,
    kind: BatchKind = "work-orders",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StoredBatch:
    """Store the file as a batch of the workspace (created on first use), once per file's sha256.

    A file stored before keeps its batch, and the chunk size it was planned with.
    """
    async with unit_of_work(sessions) as session:
        ws, _ = await WorkspaceRepository().get_or_create(
            session=session,
            slug=workspace.slug,
            name=workspace.name,
            spreadsheet_id=workspace.spreadsheet_id,
            owner_user_id=workspace.owner_user_id,
            team_id=workspace.team_id,
        )
        batch, created = await BatchRepository().store(
            session=session,
            workspace_id=ws.id,
            kind=kind,
            source=file.name,
            data=file.data,
            file_hash=file.file_hash,
            columns=file.columns,
            body_offset=file.body_offset,
            chunk_size=chunk_size_of(chunk_size),
        )
    return StoredBatch(batch_id=str(batch.id), workspace_id=str(ws.id), is_new=created, status=batch.status)


async def start_batch_import(
    client: Client,
    batch: StoredBatch,
    *,
    workspace: str,
    task_queue: str,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    max_children_per_run: int = MAX_CHILDREN_PER_RUN,
    drain_exports: bool = True,
) -> WorkflowHandle[BatchImportWorkflow, BatchImportResult]:
    """Start the batch's import run, or find the one going. A finished batch runs again harmlessly:
    its chunks are COMPLETED and write nothing (a FAILED one's failed chunks run again)."""
    return await client.start_workflow(
        BatchImportWorkflow.run,
        BatchImportInput(
            batch_id=batch.batch_id,
            workspace=workspace,
            max_in_flight=max_in_flight,
            max_children_per_run=max_children_per_run,
            export_drain_id=export_drain_workflow_id(task_queue) if drain_exports else None,
        ),
        id=batch_workflow_id(batch.batch_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(WORKSPACE, workspace), SearchAttributePair(BATCH_ID, batch.batch_id)]
        ),
    )


def batch_id_of(text: str) -> uuid.UUID:
    return parse_uuid(text, "a batch id", ", as `intake batch import` prints it")


async def _batch(session: AsyncSession, batch_id: uuid.UUID) -> Batch:
    batch = await BatchRepository().find_by_id(batch_id, session=session)
    if batch is None:
        raise NotFoundError(f"no batch {batch_id} (`intake batch import FILE.csv` makes one)")
    return batch


async def load_batch_status(
    sessions: async_sessionmaker[AsyncSession], batch_id: uuid.UUID, *, errors: int = 5
) -> dict[str, Any]:
    """A batch's state: status, counts (the chunks' sums while it runs), chunks by status, first errors."""
    chunks = BatchChunkRepository()
    async with sessions() as session:
        batch = await _batch(session, batch_id)
        totals = await chunks.totals(batch_id, session=session)
        by_status = await chunks.status_counts(batch_id, session=session)
        failed = await chunks.find_many(session=session, batch_id=batch_id, status="FAILED", limit=20)
        first = await ErrorRowRepository().first(batch_id, session=session, limit=errors)
    return {
        "batch_id": str(batch.id),
        "source": batch.source,
        "kind": batch.kind,
        "file_hash": batch.file_hash,
        "status": batch.status,
        "error": batch.error,
        "rows": batch.row_count,
        "processed": totals.processed,
        "errors": totals.errors,
        "created": totals.created,
        "existing": totals.existing,
        "chunk_size": batch.chunk_size,
        "chunks": {status: by_status.get(status, 0) for status in ("PENDING", "COMPLETED", "FAILED")},
        "failed_chunks": [
            {"chunk": chunk.chunk_index, "rows": f"{chunk.first_row}-{chunk.last_row}", "error": chunk.error}
            for chunk in failed
        ],
        "first_errors": [
            {"row": row.row_number, "column": row.column_name, "reason": row.reason, "raw": row.raw_row}
            for row in first
        ],
        "workflow_id": batch.workflow_id,
        "created_at": batch.created_at.isoformat(),
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "completed_at": batch.completed_at.isoformat() if batch.completed_at else None,
    }


async def batch_errors(
    sessions: async_sessionmaker[AsyncSession], batch_id: uuid.UUID
) -> AsyncIterator[dict[str, Any]]:
    """Every error row of the batch in file order: row, column, reason, and the row's text."""
    async with sessions() as session:
        await _batch(session, batch_id)
        async for row in ErrorRowRepository().stream(batch_id, session=session):
            yield {"row": row.row_number, "column": row.column_name, "reason": row.reason, "raw": row.raw_row}


async def batch_errors_csv(sessions: async_sessionmaker[AsyncSession], batch_id: uuid.UUID) -> AsyncIterator[str]:
    """The error rows as a CSV file to fix and import again: the batch's header with the error's
    row, column and reason in front (`ANNOTATION_COLUMNS`, which an import ignores), then each
    row's fields as the file had them."""
    async with sessions() as session:
        batch = await _batch(session, batch_id)
        columns = [name for name in batch.columns if name not in ANNOTATION_COLUMNS]
        positions = [batch.columns.index(name) for name in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*ANNOTATION_COLUMNS, *columns])
    yield _take(out)
    async for error in batch_errors(sessions, batch_id):
        values = parse_record(error["raw"])
        fields = [values[i] if i < len(values) else "" for i in positions]
        writer.writerow([error["row"], error["column"] or "", error["reason"], *fields])
        yield _take(out)


def _take(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


async def read_batch_file_async(path: Path) -> BatchFile:
    return await asyncio.to_thread(read_batch_file, path)
