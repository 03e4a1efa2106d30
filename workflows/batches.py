"""BatchImportWorkflow and BatchChunkWorkflow: a stored CSV file, fanned out by chunk and fanned in.

The parent plans the batch (one activity: the chunks and their row ranges, in Postgres),
then keeps a sliding window of at most `max_in_flight` chunk children running: as one
finishes, the next starts. A child runs its chunk's one activity (one transaction: the
chunk's work orders, export jobs, processed and error rows) and, when its attempts run
out, records the chunk FAILED instead of failing: a bad chunk never stops the others, a bad
row never fails its chunk.

A run starts at most `max_children_per_run` children (1,000 at most). When it has started
that many, or Temporal suggests continuing as new (a long history), it lets the children in
flight finish, then continues as new with the window (`BatchWindow`: the next chunk, the
failed ones, the run count): the new run goes on where this one stopped. The counts live in
Postgres, so the fan-in (`batches_finish`) sums the chunks' rows there, whatever the runs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError

from contracts.batches import (
    BatchImportInput,
    BatchImportResult,
    BatchWindow,
    ChunkWorkflowInput,
    FailChunkInput,
    FinishBatchInput,
    PlanBatchInput,
    ProcessChunkInput,
    ProcessChunkResult,
    chunk_workflow_id,
)
from workflows.exports import kick_export_drain
from workflows.policies import BULK_WRITE, DB_WRITE
from workflows.search_attributes import BATCH_ID, WORKSPACE

with workflow.unsafe.imports_passed_through():
    from activities.batches import BatchActivities

CHUNK_TIMEOUT = timedelta(hours=6)


# Not sandboxed: the workflow only calls its activities, and a batch starts one per chunk, where
# a sandbox would re-import this module for each (tens of milliseconds of the worker's CPU).
@workflow.defn(sandboxed=False)
class BatchChunkWorkflow:
    """One chunk: its activity, or the record that it failed."""

    @workflow.run
    async def run(self, input: ChunkWorkflowInput) -> ProcessChunkResult:
        try:
            return await workflow.execute_activity_method(
                BatchActivities.process_chunk,
                ProcessChunkInput(batch_id=input.batch_id, chunk_index=input.chunk_index),
                **BULK_WRITE,
            )
        except ActivityError as err:
            error = str(err.cause or err)
            workflow.logger.warning("chunk %d of batch %s failed: %s", input.chunk_index, input.batch_id, error)
            return await workflow.execute_activity_method(
                BatchActivities.fail_chunk,
                FailChunkInput(batch_id=input.batch_id, chunk_index=input.chunk_index, error=error),
                **DB_WRITE,
            )


@workflow.defn
class BatchImportWorkflow:
    def __init__(self) -> None:
        self._window: BatchWindow | None = None

    @workflow.query
    def window(self) -> BatchWindow | None:
        """Where the import stands: chunks planned, the next to start, the failed ones."""
        return self._window

    @workflow.run
    async def run(self, input: BatchImportInput) -> BatchImportResult:
        window = input.window
        if window is None:
            plan = await workflow.execute_activity_method(
                BatchActivities.plan,
                PlanBatchInput(batch_id=input.batch_id, max_in_flight=input.max_in_flight),
                **BULK_WRITE,
            )
            window = BatchWindow(chunk_count=plan.chunk_count, row_count=plan.row_count, next_chunk=0)
        self._window = window
        attributes = TypedSearchAttributes(
            [SearchAttributePair(WORKSPACE, input.workspace), SearchAttributePair(BATCH_ID, input.batch_id)]
        )
        running: dict[asyncio.Task[ProcessChunkResult], int] = {}  # -> chunk index
        started = 0
        rolling_over = False
        while True:
            while not rolling_over and window.next_chunk < window.chunk_count and len(running) < input.max_in_flight:
                task = asyncio.create_task(self._chunk(input.batch_id, window.next_chunk, attributes))
                running[task] = window.next_chunk
                window.next_chunk += 1
                started += 1
                rolling_over = started >= input.max_children_per_run or workflow.info().is_continue_as_new_suggested()
            if not running:
                break
            done, _ = await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            # In chunk order, not the set's (which a replay need not repeat).
            for finished in sorted(done, key=running.__getitem__):
                del running[finished]
                chunk = finished.result()
                window.exports_enqueued += chunk.exports_enqueued
                if chunk.status == "FAILED":
                    window.failed_chunks.append(chunk.chunk_index)
        if window.next_chunk < window.chunk_count:
            workflow.continue_as_new(
                input.model_copy(update={"window": window.model_copy(update={"runs": window.runs + 1})})
            )
        summary = await workflow.execute_activity_method(
            BatchActivities.finish, FinishBatchInput(batch_id=input.batch_id, runs=window.runs), **DB_WRITE
        )
        if input.export_drain_id is not None and window.exports_enqueued:
            await kick_export_drain(input.export_drain_id)
        return summary

    async def _chunk(self, batch_id: str, index: int, attributes: TypedSearchAttributes) -> ProcessChunkResult:
        try:
            return await workflow.execute_child_workflow(
                BatchChunkWorkflow.run,
                ChunkWorkflowInput(batch_id=batch_id, chunk_index=index),
                id=chunk_workflow_id(batch_id, index),
                search_attributes=attributes,
                # A chunk whose activity runs out of attempts is FAILED by its child; this bounds
                # a child that never gets a worker at all.
                execution_timeout=CHUNK_TIMEOUT,
            )
        except ChildWorkflowError as err:
            # Terminated, timed out: the chunk is recorded FAILED here, and the others go on.
            return await workflow.execute_activity_method(
                BatchActivities.fail_chunk,
                FailChunkInput(batch_id=batch_id, chunk_index=index, error=str(err.cause or err)),
                **DB_WRITE,
            )
