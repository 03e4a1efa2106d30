"""ExportDrainWorkflow: the Sheets export queue, drained under Temporal.

There is ONE drain per task queue at a time, with a fixed workflow id
(`export_drain_workflow_id`). Everything that wants exports to happen kicks it:
ingestion (`kick_export_drain`, from inside a workflow), the `export-drain`
Schedule (whose runs carry their own ids: they kick the singleton and end) and
`intake export drain` / `retry` (signal-with-start). A kick starts the drain,
or wakes the running one. The drain's id always travels in an input (never
derived from the worker's task queue inside a workflow, which a replay does
not reproduce).

The drain takes the due jobs in batches; each job is one `export_job` activity
with backoff 1, 2, 4, 8 s (16 s cap) and at most 5 attempts; a job whose
attempts run out is marked FAILED with its last error and the drain goes on.
A quota error (HTTP 429, quotaExceeded) stops the whole drain: the jobs of
the batch not started yet do not start (started ones finish: a cancelled
attempt's Sheets call would go on in its thread), every open job is held
until the cool-down ends, and the drain sleeps through it (a durable timer),
then resumes. Since the drain is the only caller of Sheets' append and it
sleeps while held, nothing calls Sheets during the cool-down.

Its database steps are ordinary activities, not local ones: signals (wake,
retry) steer the loop, and an activity's events put each signal at a fixed
point of the history, so a replay takes the same path.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

from contracts.exports import (
    ExportDrainInput,
    ExportDrainResult,
    ExportDrainTotals,
    ExportJobInput,
    ListDueJobsInput,
    MarkJobFailedInput,
    PauseJobsInput,
    RequeueFailedInput,
)
from workflows.policies import DB_OUTAGE_ALLOWANCE, DB_WRITE, HEARTBEAT_TIMEOUT, ActivityOptions

with workflow.unsafe.imports_passed_through():
    from activities.exports import ExportActivities

QUOTA_ERROR = "QuotaExceededError"

# One export attempt: waits of 1, 2, 4, 8 s between the 5 attempts (16 s is the cap). The timeout
# covers a retry's two Sheets calls (read, append) at the default 30 s call timeout plus the
# attempt's database steps, a wait for an earlier attempt's lease (as long again) and a wait for
# the database; the activity starts no call that could outlive it. It heartbeats: a dead worker's
# attempt is retried after 10 s.
EXPORT_ATTEMPT: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=150) + DB_OUTAGE_ALLOWANCE,
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=16),
        maximum_attempts=5,
    ),
}


@workflow.defn
class ExportDrainWorkflow:
    def __init__(self) -> None:
        self._woken = False
        self._retry_requests: list[RequeueFailedInput] = []
        self._held = False

    @workflow.signal
    def wake(self) -> None:
        """New jobs may be due: look again before finishing."""
        self._woken = True

    @workflow.signal
    def retry_failed(self, request: RequeueFailedInput) -> None:
        """Put FAILED jobs (all, or the ones named) back in the queue for a fresh round."""
        self._retry_requests.append(request)
        self._woken = True

    @workflow.query
    def held(self) -> bool:
        """Whether the drain is sleeping through a quota cool-down."""
        return self._held

    @workflow.run
    async def run(self, input: ExportDrainInput) -> ExportDrainResult:
        info = workflow.info()
        if input.hand_over_to is not None and input.hand_over_to != info.workflow_id:
            await kick_export_drain(input.hand_over_to, input.model_copy(update={"hand_over_to": None}))
            return ExportDrainResult(totals=ExportDrainTotals(), handed_over_to=input.hand_over_to)

        totals = input.totals or ExportDrainTotals()
        done_this_run = 0
        while True:
            while self._retry_requests:
                request = self._retry_requests.pop(0)
                try:
                    await workflow.execute_activity_method(ExportActivities.requeue_failed, request, **DB_WRITE)
                except ActivityError as err:
                    # A bad request (an id that is no job id) must not end the one drain.
                    workflow.logger.warning("retry request %s refused: %s", request.job_ids, err.cause or err)
            self._woken = False
            due = await workflow.execute_activity_method(
                ExportActivities.due_jobs, ListDueJobsInput(limit=input.batch_size), **DB_WRITE
            )
            if not due.job_ids:
                if self._woken or self._retry_requests:
                    continue
                await workflow.wait_condition(workflow.all_handlers_finished)
                return ExportDrainResult(totals=totals)

            stopped = await self._export_batch(due.job_ids, input.concurrency, totals)
            done_this_run += len(due.job_ids)
            if stopped:
                totals.quota_stops += 1
                until = workflow.now() + timedelta(seconds=input.cooldown_seconds)
                held = await workflow.execute_activity_method(
                    ExportActivities.pause, PauseJobsInput(until=until), **DB_WRITE
                )
                workflow.logger.warning("Sheets quota used up: %d export jobs held until %s", held.held, until)
                self._held = True
                await workflow.sleep(timedelta(seconds=input.cooldown_seconds))
                self._held = False
            if done_this_run >= input.jobs_per_run or info.is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input.model_copy(update={"totals": totals}))

    async def _export_batch(self, job_ids: list[str], concurrency: int, totals: ExportDrainTotals) -> bool:
        """Export the jobs, `concurrency` at a time; True when a quota error stopped the batch."""
        gate = asyncio.Semaphore(concurrency)
        quota_hit = False

        async def export(job_id: str) -> None:
            nonlocal quota_hit
            async with gate:
                if quota_hit:
                    return  # stopped by the quota before it started; the job is held
                try:
                    await workflow.execute_activity_method(
                        ExportActivities.export_job, ExportJobInput(job_id=job_id), **EXPORT_ATTEMPT
                    )
                    totals.exported += 1
                except ActivityError as err:
                    cause = err.cause
                    if isinstance(cause, ApplicationError) and cause.type == QUOTA_ERROR:
                        # Jobs still waiting for the gate do not start; the ones calling Sheets now
                        # are not cancelled (their Sheets call would go on in its thread whatever the
                        # activity heard): they end on their own and the pause holds them after.
                        quota_hit = True
                        return
                    await workflow.execute_activity_method(
                        ExportActivities.mark_failed,
                        MarkJobFailedInput(job_id=job_id, error=str(cause or err)),
                        **DB_WRITE,
                    )
                    totals.failed += 1
                    totals.failed_job_ids.append(job_id)

        await asyncio.gather(*(export(job_id) for job_id in job_ids))
        return quota_hit


async def kick_export_drain(drain_id: str, input: ExportDrainInput | None = None) -> None:
    """From inside a workflow: start the drain `drain_id`, or wake it if it runs.

    Best effort: when neither works (the drain ended between the two tries),
    the `export-drain` Schedule picks the jobs up at its next run.
    """
    try:
        await workflow.start_child_workflow(
            ExportDrainWorkflow.run,
            input or ExportDrainInput(),
            id=drain_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        try:
            await workflow.get_external_workflow_handle(drain_id).signal(ExportDrainWorkflow.wake)
        except FailureError as err:
            workflow.logger.warning("could not wake the export drain %s: %s", drain_id, err)
