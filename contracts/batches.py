"""The batch pipeline's contract: a stored CSV file of work orders becomes chunks, run as children.

`BatchImportWorkflow` (id `batch_workflow_id`) takes a batch already stored in Postgres (its
bytes never travel through Temporal), plans its chunks, runs one `BatchChunkWorkflow` child
per chunk (`chunk_workflow_id`) with at most `max_in_flight` at a time, and fans in to the
batch's status and counts. It continues as new after `max_children_per_run` children (or when
Temporal suggests it), carrying where the window stands in `BatchWindow`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

BatchKind = Literal["work-orders"]
BATCH_KINDS: tuple[BatchKind, ...] = ("work-orders",)
BatchStatus = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED"]
ChunkStatus = Literal["PENDING", "COMPLETED", "FAILED"]

DEFAULT_CHUNK_SIZE = 10_000
DEFAULT_IN_FLIGHT = 4
# A chunk's fixed cost (its child run, its transaction) is worth paying for at least this many rows.
MIN_SPLIT_ROWS = 1_000
# Temporal caps a run's pending children far above this; the history stays short too.
MAX_CHILDREN_PER_RUN = 1_000


def batch_workflow_id(batch_id: str) -> str:
    """One import run per batch: importing the same file again finds the batch, and its run."""
    return f"batch/{batch_id}"


def chunk_workflow_id(batch_id: str, chunk_index: int) -> str:
    return f"batch/{batch_id}/chunk/{chunk_index}"


# -- the activities -------------------------------------------------------------------------


class PlanBatchInput(BaseModel):
    batch_id: str
    # The import's window: a file too small to fill it with chunks of its chunk size is split
    # into up to this many (`planned_chunk_size`), so they run side by side.
    max_in_flight: int = 1


class PlanBatchResult(BaseModel):
    """The batch's chunks (made now, or by an earlier run) and its data rows."""

    chunk_count: int
    row_count: int


class ProcessChunkInput(BaseModel):
    batch_id: str
    chunk_index: int


class ProcessChunkResult(BaseModel):
    """One chunk's rows: processed (created + existing work orders) and errors. `replayed`: the
    chunk had committed before (a retry after its commit, a new run of the batch) and wrote nothing."""

    chunk_index: int
    status: ChunkStatus
    processed: int = 0
    errors: int = 0
    created: int = 0
    existing: int = 0
    exports_enqueued: int = 0
    replayed: bool = False
    error: str | None = None


class FailChunkInput(BaseModel):
    batch_id: str
    chunk_index: int
    error: str


class FinishBatchInput(BaseModel):
    batch_id: str
    runs: int = 1


# -- the workflows --------------------------------------------------------------------------


class BatchWindow(BaseModel):
    """Where an import stands when it continues as new: every chunk below `next_chunk` is done."""

    chunk_count: int
    row_count: int
    next_chunk: int
    failed_chunks: list[int] = []
    exports_enqueued: int = 0
    runs: int = 1


class BatchImportInput(BaseModel):
    batch_id: str
    workspace: str  # the slug, for the search attribute of every run
    max_in_flight: int = Field(DEFAULT_IN_FLIGHT, ge=1, le=64)
    max_children_per_run: int = Field(MAX_CHILDREN_PER_RUN, ge=1, le=MAX_CHILDREN_PER_RUN)
    window: BatchWindow | None = None
    # The export drain to kick when chunks queued Sheets exports (`export_drain_workflow_id`).
    export_drain_id: str | None = None


class ChunkWorkflowInput(BaseModel):
    batch_id: str
    chunk_index: int


class BatchImportResult(BaseModel):
    batch_id: str
    status: BatchStatus
    row_count: int
    processed: int
    errors: int
    created: int
    existing: int
    chunk_count: int
    failed_chunks: list[int] = []
    runs: int = 1
    error: str | None = None


def planned_chunk_size(chunk_size: int, rows: int, max_in_flight: int) -> int:
    """The rows per chunk of a file of `rows` rows: `chunk_size` (the most a chunk holds), or less
    when that leaves part of the window idle: `rows` over `max_in_flight`, but not under
    MIN_SPLIT_ROWS rows (nor over `chunk_size`)."""
    shared = -(-rows // max(max_in_flight, 1))
    return max(1, min(chunk_size, max(shared, MIN_SPLIT_ROWS)))
