"""ETL batches: a CSV file of work orders, its chunks, and the rows each chunk processed or refused.

A batch is one file in one workspace: unique per (workspace, sha256 of the file), so the same
file imported twice is the same batch. Its bytes stay here (`batches.raw_data`, loaded only
when asked for); a chunk names its rows by number and by byte range in that file. Processed
and error rows are keyed by (batch, row number): a row is one or the other, once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TimestampMixin, one_of, uuid_pk

BATCH_KINDS = ("work-orders",)
BATCH_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
CHUNK_STATUSES = ("PENDING", "COMPLETED", "FAILED")
ROW_OUTCOMES = ("CREATED", "EXISTING")


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, server_default=text("0"))


class Batch(TimestampMixin, Base):
    """One imported file and what became of it; the counts are the chunks' sums once it finishes."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("workspace_id", "file_hash"),
        # The dashboard's batch list: newest first, a page at a time (db/repositories/pages.py).
        Index("ix_batches_created", "created_at", "id"),
        CheckConstraint(one_of("kind", BATCH_KINDS), name="kind"),
        CheckConstraint(one_of("status", BATCH_STATUSES), name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # Where it came from: the file's name as given.
    source: Mapped[str] = mapped_column(Text, nullable=False)
    file_hash: Mapped[str] = mapped_column(Text, nullable=False)
    file_size: Mapped[int] = mapped_column(Integer, nullable=False)
    # Stored uncompressed (STORAGE EXTERNAL, migration 0008), so a byte range reads only its part.
    raw_data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    # The header's columns, and the offset of the first row in raw_data.
    columns: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    body_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    chunk_size: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="PENDING")
    row_count: Mapped[int] = _count()
    chunk_count: Mapped[int] = _count()
    processed_count: Mapped[int] = _count()
    error_count: Mapped[int] = _count()
    created_count: Mapped[int] = _count()
    existing_count: Mapped[int] = _count()
    workflow_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchChunk(Base):
    """A run of consecutive rows (first_row..last_row, bytes byte_start..byte_end of the file).

    `duplicates` maps a row of this chunk (as text) to the earlier row of the file with the
    same work order number: found when the batch is planned, so which copy wins never depends
    on which chunk runs first. `workflow_id` / `attempt` name the step that ran it.
    """

    __tablename__ = "batch_chunks"
    __table_args__ = (CheckConstraint(one_of("status", CHUNK_STATUSES), name="status"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_row: Mapped[int] = mapped_column(Integer, nullable=False)
    last_row: Mapped[int] = mapped_column(Integer, nullable=False)
    byte_start: Mapped[int] = mapped_column(Integer, nullable=False)
    byte_end: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicates: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="PENDING")
    processed_count: Mapped[int] = _count()
    error_count: Mapped[int] = _count()
    created_count: Mapped[int] = _count()
    existing_count: Mapped[int] = _count()
    workflow_id: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessedRow(Base):
    """A row that became (CREATED) or found (EXISTING) its work order."""

    __tablename__ = "processed_rows"
    __table_args__ = (CheckConstraint(one_of("outcome", ROW_OUTCOMES), name="outcome"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    # The work order the row became or found, recorded rather than referenced: the import's
    # record stays as it was if the work order is deleted later, and an import writes tens of
    # thousands of these a chunk, where a key check and an index entry per row cost as much as
    # the row itself (migration 0015).
    work_order_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    work_order_number: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ErrorRow(Base):
    """A row that was refused: its text as the file has it, the column at fault (if one) and why."""

    __tablename__ = "error_rows"

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    raw_row: Mapped[str] = mapped_column(Text, nullable=False)
    column_name: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
