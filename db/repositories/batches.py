"""Queries of the batch pipeline: batches and their file, chunks, processed and error rows.

The hot path is a chunk's write: its processed rows are made in the database from the work
orders ingestion staged, its error rows go in as arrays, unnested: one statement per table
whatever the chunk's size. Reads for `intake batch status|errors` (and the
API, the dashboard) are here too: counts, chunks by status, error rows in file order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Text, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.batches import Batch, BatchChunk, ErrorRow, ProcessedRow
from db.repository import Repository


@dataclass(frozen=True)
class ChunkCounts:
    processed: int = 0
    errors: int = 0
    created: int = 0
    existing: int = 0


@dataclass(frozen=True)
class RowError:
    """One refused row: its number, its text in the file, the column at fault (None: the row as a whole)."""

    row_number: int
    raw_row: str
    column: str | None
    reason: str


class BatchRepository(Repository[Batch]):
    def __init__(self) -> None:
        super().__init__(Batch)

    async def store(
        self,
        *,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        kind: str,
        source: str,
        data: bytes,
        file_hash: str,
        columns: list[str],
        body_offset: int,
        chunk_size: int,
    ) -> tuple[Batch, bool]:
        """The workspace's batch of this file (by its sha256), stored with its bytes when new."""
        created = await session.scalar(
            insert(Batch)
            .values(
                workspace_id=workspace_id,
                kind=kind,
                source=source,
                file_hash=file_hash,
                file_size=len(data),
                raw_data=data,
                columns=columns,
                body_offset=body_offset,
                chunk_size=chunk_size,
            )
            .on_conflict_do_nothing(index_elements=[Batch.workspace_id, Batch.file_hash])
            .returning(Batch.id)
        )
        batch = await self.find_one(session=session, workspace_id=workspace_id, file_hash=file_hash)
        assert batch is not None
        return batch, created is not None

    async def lock(self, batch_id: uuid.UUID, *, session: AsyncSession) -> Batch | None:
        """The batch, locked until the transaction ends (a second planner waits, then sees the plan)."""
        stmt = select(Batch).where(Batch.id == batch_id).with_for_update()
        return (await session.scalars(stmt, execution_options={"populate_existing": True})).first()

    async def raw_data(self, batch_id: uuid.UUID, *, session: AsyncSession) -> bytes:
        return bytes(await session.scalar(select(Batch.raw_data).where(Batch.id == batch_id)) or b"")

    async def read_bytes(self, batch_id: uuid.UUID, start: int, end: int, *, session: AsyncSession) -> bytes:
        """Bytes `start:end` of the batch's file (a chunk's rows), without loading the rest."""
        part = await session.scalar(
            select(func.substring(Batch.raw_data, start + 1, end - start)).where(Batch.id == batch_id)
        )
        return bytes(part or b"")

    async def finish(self, batch_id: uuid.UUID, *, session: AsyncSession) -> Batch:
        """Fan in: the batch's counts become its chunks' sums; COMPLETED, or FAILED when a chunk
        (or the plan) failed. The same values on a repeat."""
        chunks = BatchChunkRepository()
        totals = await chunks.totals(batch_id, session=session)
        failed = await chunks.count(session=session, batch_id=batch_id, status="FAILED")
        batch = await self.lock(batch_id, session=session)
        assert batch is not None
        status = "FAILED" if failed or (batch.error and batch.chunk_count == 0) else "COMPLETED"
        error = batch.error if status == "FAILED" and not failed else None
        if failed:
            error = f"{failed} of {batch.chunk_count} chunks failed (`intake batch status {batch_id}` lists them)"
        [done] = await self.update(
            Batch.id == batch_id,
            values={
                "status": status,
                "error": error,
                "processed_count": totals.processed,
                "error_count": totals.errors,
                "created_count": totals.created,
                "existing_count": totals.existing,
                "completed_at": func.now(),
            },
            session=session,
        )
        return done


class BatchChunkRepository(Repository[BatchChunk]):
    def __init__(self) -> None:
        super().__init__(BatchChunk)

    async def create_all(self, batch_id: uuid.UUID, chunks: Sequence[dict[str, Any]], *, session: AsyncSession) -> None:
        """The batch's chunks (chunk_index, first_row, last_row, byte_start, byte_end, duplicates each).

        In statements of at most 1,000 chunks, within the driver's limit on parameters.
        """
        for start in range(0, len(chunks), 1_000):
            rows = [{**chunk, "batch_id": batch_id} for chunk in chunks[start : start + 1_000]]
            await session.execute(insert(BatchChunk).values(rows).on_conflict_do_nothing())

    async def lock(self, batch_id: uuid.UUID, chunk_index: int, *, session: AsyncSession) -> BatchChunk | None:
        """The chunk, locked until the transaction ends: a second attempt waits, then sees it COMPLETED."""
        stmt = (
            select(BatchChunk)
            .where(BatchChunk.batch_id == batch_id, BatchChunk.chunk_index == chunk_index)
            .with_for_update()
        )
        return (await session.scalars(stmt, execution_options={"populate_existing": True})).first()

    async def complete(
        self,
        batch_id: uuid.UUID,
        chunk_index: int,
        counts: ChunkCounts,
        *,
        workflow_id: str | None,
        attempt: int,
        session: AsyncSession,
    ) -> None:
        await session.execute(
            update(BatchChunk)
            .where(BatchChunk.batch_id == batch_id, BatchChunk.chunk_index == chunk_index)
            .values(
                status="COMPLETED",
                processed_count=counts.processed,
                error_count=counts.errors,
                created_count=counts.created,
                existing_count=counts.existing,
                workflow_id=workflow_id,
                attempt=attempt,
                error=None,
                completed_at=func.now(),
            )
        )

    async def fail(
        self, batch_id: uuid.UUID, chunk_index: int, error: str, *, workflow_id: str | None, session: AsyncSession
    ) -> bool:
        """Mark a chunk FAILED (its attempts ran out; it wrote nothing); a COMPLETED one stays. True when marked."""
        rows = await session.execute(
            update(BatchChunk)
            .where(
                BatchChunk.batch_id == batch_id,
                BatchChunk.chunk_index == chunk_index,
                BatchChunk.status != "COMPLETED",
            )
            .values(status="FAILED", error=error, workflow_id=workflow_id, completed_at=func.now())
            .returning(BatchChunk.chunk_index)
        )
        return rows.first() is not None

    async def totals(self, batch_id: uuid.UUID, *, session: AsyncSession) -> ChunkCounts:
        """The sums of the batch's chunks so far (a running batch's progress)."""
        row = (
            await session.execute(
                select(
                    func.coalesce(func.sum(BatchChunk.processed_count), 0),
                    func.coalesce(func.sum(BatchChunk.error_count), 0),
                    func.coalesce(func.sum(BatchChunk.created_count), 0),
                    func.coalesce(func.sum(BatchChunk.existing_count), 0),
                ).where(BatchChunk.batch_id == batch_id)
            )
        ).one()
        return ChunkCounts(*(int(value) for value in row))

    async def status_counts(self, batch_id: uuid.UUID, *, session: AsyncSession) -> dict[str, int]:
        rows = await session.execute(
            select(BatchChunk.status, func.count()).where(BatchChunk.batch_id == batch_id).group_by(BatchChunk.status)
        )
        return {status: int(count) for status, count in rows.all()}


_ERRORS = text(
    """
    INSERT INTO error_rows (batch_id, chunk_index, row_number, raw_row, column_name, reason)
    SELECT :batch_id, :chunk_index, row_number, raw_row, column_name, reason
    FROM unnest(:rows, :raw_rows, :columns, :reasons) AS t(row_number, raw_row, column_name, reason)
    ON CONFLICT DO NOTHING
    """
).bindparams(
    bindparam("batch_id", type_=UUID(as_uuid=True)),
    bindparam("chunk_index", type_=Integer),
    bindparam("rows", type_=ARRAY(Integer)),
    *(bindparam(name, type_=ARRAY(Text)) for name in ("raw_rows", "columns", "reasons")),
)


# A chunk's processed rows, from its work orders as ingestion staged them (the staged position
# is the row's number in the file): the rows never travel back to Python. A plain insert: the
# chunk, locked and not COMPLETED, has none yet (its earlier attempts committed nothing).
_PROCESSED_STAGED = text(
    """
    INSERT INTO processed_rows (batch_id, chunk_index, row_number, work_order_id, work_order_number, outcome)
    SELECT :batch_id, :chunk_index, position, work_order_id, work_order_number,
           CASE WHEN is_new THEN 'CREATED' ELSE 'EXISTING' END
    FROM ingest_orders ORDER BY position
    """
).bindparams(bindparam("batch_id", type_=UUID(as_uuid=True)), bindparam("chunk_index", type_=Integer))


class ProcessedRowRepository(Repository[ProcessedRow]):
    def __init__(self) -> None:
        super().__init__(ProcessedRow)

    async def insert_staged(self, batch_id: uuid.UUID, chunk_index: int, *, session: AsyncSession) -> None:
        """The chunk's processed rows, one per work order `WorkOrderRepository.ingest_staged` ingested."""
        await session.execute(_PROCESSED_STAGED, {"batch_id": batch_id, "chunk_index": chunk_index})


class ErrorRowRepository(Repository[ErrorRow]):
    def __init__(self) -> None:
        super().__init__(ErrorRow)

    async def insert_many(
        self, batch_id: uuid.UUID, chunk_index: int, rows: Sequence[RowError], *, session: AsyncSession
    ) -> None:
        """A chunk's error rows in one statement (a row already stored is left as it is)."""
        if rows:
            await session.execute(
                _ERRORS,
                {
                    "batch_id": batch_id,
                    "chunk_index": chunk_index,
                    "rows": [row.row_number for row in rows],
                    "raw_rows": [row.raw_row for row in rows],
                    "columns": [row.column for row in rows],
                    "reasons": [row.reason for row in rows],
                },
            )

    async def first(self, batch_id: uuid.UUID, *, session: AsyncSession, limit: int) -> list[ErrorRow]:
        """The batch's first error rows, in file order."""
        return await self.find_many(session=session, batch_id=batch_id, order_by=[ErrorRow.row_number], limit=limit)

    async def stream(self, batch_id: uuid.UUID, *, session: AsyncSession) -> AsyncIterator[ErrorRow]:
        """Every error row of the batch, in file order, without loading them all at once."""
        stmt = select(ErrorRow).where(ErrorRow.batch_id == batch_id).order_by(ErrorRow.row_number)
        result = await session.stream_scalars(stmt.execution_options(yield_per=1000))
        async for row in result:
            yield row
