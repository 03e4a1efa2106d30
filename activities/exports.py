"""Activities of the Sheets export: one export job's append, and the queue's bookkeeping.

`export_job` is the one outside call. Temporal retries it (backoff 1, 2, 4, 8 s,
5 attempts in all); every attempt is mirrored in export_jobs before and after
it calls Sheets. The row is appended exactly once:

- an attempt records `last_attempt_at` (committed) BEFORE it calls Sheets, so a
  job whose `last_attempt_at` was still empty has never reached Sheets and its
  first attempt appends straight away: ONE Sheets call in the happy path;
- any later attempt (a retry after a 500 that came after the write, a timeout,
  a manual retry, a resume after a quota stop) reads the key column (the row's
  last: the work order's or signed document's id, unique across workspaces)
  first and appends only when the id is not there yet.

No two attempts of one job call Sheets at the same time: one drain runs at a time
(ExportDrainWorkflow is a singleton) and it never abandons an attempt that has
started (a quota stop only keeps queued jobs from starting). Temporal may start
the next attempt while an earlier one still runs, though: attempts heartbeat, and
a worker that stops heartbeating (dead, or cut off from Temporal but alive, its
Sheets call still in a thread nothing can cancel) is given up on after the
heartbeat timeout. So an attempt takes a lease as it begins: `next_attempt_at`
becomes the end of its Sheets calls (one or two, each bounded by the call
timeout, plus a margin), and it starts no call that would end after it, nor after
its own start-to-close timeout. The next attempt starts its calls only when that
lease has ended: after a dead worker, Temporal's retry comes a heartbeat timeout
(10 s) later and waits for what is left of the lease, if anything. `finish` and
`record_failure` apply only while their attempt is the job's latest.

A lost database connection runs the attempt again within itself
(activities/interceptors.py); that run's lease of the same attempt is its own
(its calls are over) and is not waited for.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.deps import Deps
from activities.interceptors import attempt_started, runs_before
from activities.keys import may_have_written
from contracts.exports import (
    ExportJobInput,
    ExportJobResult,
    ListDueJobsInput,
    ListDueJobsResult,
    MarkJobFailedInput,
    PauseJobsInput,
    PauseJobsResult,
    RequeueFailedInput,
    RequeueFailedResult,
)
from core.errors import InvalidInputError, NotFoundError
from db.models.work_orders import ExportJob
from db.repositories.exports import ExportJobRepository, Lease
from db.repositories.work_orders import (
    SignedDocumentRepository,
    WorkOrderRepository,
    WorkspaceRepository,
)
from db.uow import unit_of_work
from integrations.errors import (
    IntegrationError,
    QuotaExceededError,
    RetryableIntegrationError,
)

# What the drain's retry policy says; the activity reads the real one from its info when it has it.
DEFAULT_MAX_ATTEMPTS = 5
# Of an attempt's start-to-close timeout, what is kept for its database steps (and clock drift
# between worker and server); the rest is the budget for its Sheets calls.
ATTEMPT_MARGIN_SECONDS = 10.0
# Of an attempt's lease, what is kept for the steps between its start (the database's clock, as
# the attempt begins) and its first Sheets call; an attempt later than that calls nothing.
LEASE_MARGIN_SECONDS = 2.0


class ExportActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._sheets = deps.services.sheets
        self._call_timeout = deps.settings.outside_call_timeout
        self._lease = sheets_lease(self._call_timeout)
        self._jobs = ExportJobRepository()
        self._workspaces = WorkspaceRepository()
        self._work_orders = WorkOrderRepository()
        self._signed = SignedDocumentRepository()

    @activity.defn(name="export_due_jobs")
    async def due_jobs(self, input: ListDueJobsInput) -> ListDueJobsResult:
        async with self._sessions() as session:
            ids = await self._jobs.due(session=session, limit=input.limit)
        return ListDueJobsResult(job_ids=[str(job_id) for job_id in ids])

    @activity.defn(name="export_job")
    async def export_job(self, input: ExportJobInput) -> ExportJobResult:
        """Append the job's row to its workspace's sheet, once; mirror the attempt in export_jobs."""
        info = activity.info()
        run_started = time.monotonic()
        started = attempt_started() or run_started
        job_id = uuid.UUID(input.job_id)
        async with unit_of_work(self._sessions) as session:
            begun = await self._jobs.begin_attempt(
                job_id, info.attempt, lease=self._lease, again=runs_before() > 0, session=session
            )
            job, tried_before = begun.job, begun.tried_before
            if job.status == "DONE":
                return ExportJobResult(job_id=input.job_id, outcome="already_done", sheet_row=job.sheet_row)
            spreadsheet_id, sheet, row, key = await self._row(session, job)
        try:
            if begun.wait:
                # An earlier attempt may still be calling Sheets (its worker lost to Temporal, not
                # dead): its lease ends first. The worker's interceptor heartbeats meanwhile.
                activity.logger.info(
                    "export job %s: waiting %.1f s for an earlier attempt's lease", job_id, begun.wait.total_seconds()
                )
                await asyncio.sleep(begun.wait.total_seconds())
            # Each Sheets call is bounded by the call timeout but runs in a thread nothing can cancel:
            # start only calls that end inside this attempt's lease and its own timeout, so no other
            # attempt's calls overlap them.
            look_first = may_have_written(earlier=tried_before)
            calls = 2 if look_first else 1
            late = time.monotonic() - run_started - begun.wait.total_seconds()
            if late > LEASE_MARGIN_SECONDS:
                raise RetryableIntegrationError(
                    f"{late:.1f} s passed between the attempt's lease and its first Sheets call, more than "
                    f"the {LEASE_MARGIN_SECONDS:.0f} s its lease allows",
                    service="sheets",
                    operation="append",
                )
            if (left := self._time_left(info, started)) is not None and left < calls * self._call_timeout:
                raise RetryableIntegrationError(
                    f"{left:.1f} s left of the attempt's timeout, too little for {calls} call(s) of up to "
                    f"{self._call_timeout:.1f} s each",
                    service="sheets",
                    operation="append",
                )
            appended = await self._sheets.append_row(spreadsheet_id, sheet, row, key=key, look_first=look_first)
        except IntegrationError as err:
            await self._record_failure(job_id, err, info)
            raise
        async with unit_of_work(self._sessions) as session:
            await self._jobs.finish(job_id, appended.row_number, attempt=info.attempt, session=session)
        return ExportJobResult(
            job_id=input.job_id, outcome="appended" if appended.created else "found", sheet_row=appended.row_number
        )

    @activity.defn(name="export_mark_failed")
    async def mark_failed(self, input: MarkJobFailedInput) -> None:
        """The round's attempts are used up (or the error is permanent): FAILED with the last error."""
        async with unit_of_work(self._sessions) as session:
            await self._jobs.record_failure(uuid.UUID(input.job_id), input.error, final=True, session=session)

    @activity.defn(name="export_pause")
    async def pause(self, input: PauseJobsInput) -> PauseJobsResult:
        """A quota stop: every open job waits until the cool-down ends."""
        async with unit_of_work(self._sessions) as session:
            held = await self._jobs.pause_open(input.until, session=session)
        return PauseJobsResult(held=held)

    @activity.defn(name="export_requeue_failed")
    async def requeue_failed(self, input: RequeueFailedInput) -> RequeueFailedResult:
        """FAILED jobs back to PENDING for a fresh round of attempts (`intake export retry`)."""
        try:
            ids = None if input.job_ids is None else [uuid.UUID(job_id) for job_id in input.job_ids]
        except ValueError as err:
            raise InvalidInputError(f"not an export job id in {input.job_ids}: {err}") from err
        async with unit_of_work(self._sessions) as session:
            requeued = await self._jobs.requeue_failed(session=session, job_ids=ids)
        return RequeueFailedResult(job_ids=[str(job_id) for job_id in requeued])

    # -- helpers ----------------------------------------------------------------------------

    async def _row(self, session: AsyncSession, job: ExportJob) -> tuple[str, str, list[Any], str]:
        """(spreadsheet id, sheet, row values, row key) of the job; the key is written as the last cell.

        The key is the work order's (or signed document's) id: unique across workspaces, so two
        workspaces exporting to one spreadsheet never take each other's row for their own (their
        work order numbers may be the same). It sits last, after the columns people read.
        """
        workspace = await self._workspaces.find_by_id(job.workspace_id, session=session)
        if workspace is None or not workspace.spreadsheet_id:
            raise NotFoundError(f"export job {job.id}: its workspace has no spreadsheet to export to")
        if job.kind == "WORK_ORDER":
            work_order = await self._work_orders.find_by_id(job.work_order_id, session=session)
            if work_order is None:
                raise NotFoundError(f"export job {job.id}: work order {job.work_order_id} is gone")
            return (
                workspace.spreadsheet_id,
                workspace.work_order_sheet,
                [
                    work_order.work_order_number,
                    work_order.facility_manager or "",
                    work_order.site or "",
                    work_order.scheduled_date.isoformat() if work_order.scheduled_date else "",
                    f"{work_order.amount:.2f}" if work_order.amount is not None else "",
                    work_order.description or "",
                    work_order.status,
                ],
                str(work_order.id),
            )
        document = await self._signed.find_by_id(job.signed_document_id, session=session)
        if document is None:
            raise NotFoundError(f"export job {job.id}: signed document {job.signed_document_id} is gone")
        return (
            workspace.spreadsheet_id,
            workspace.signed_sheet,
            [
                document.extracted_work_order_number,
                document.signed_by or "",
                document.signed_on.isoformat() if document.signed_on else "",
            ],
            str(document.id),
        )

    async def _record_failure(self, job_id: uuid.UUID, err: IntegrationError, info: activity.Info) -> None:
        """Mirror a failed attempt: FAILED when Temporal will not try again, else PENDING until it does."""
        policy = info.retry_policy
        max_attempts = policy.maximum_attempts if policy and policy.maximum_attempts else DEFAULT_MAX_ATTEMPTS
        retryable = isinstance(err, RetryableIntegrationError)
        quota = isinstance(err, QuotaExceededError)  # not the job's fault: the drain pauses it
        final = not quota and (not retryable or info.attempt >= max_attempts)
        retry_in: timedelta | None = None
        if isinstance(err, RetryableIntegrationError) and policy is not None:
            if err.retry_after:
                retry_in = timedelta(seconds=err.retry_after)
            else:
                retry_in = _backoff(
                    policy.initial_interval, policy.backoff_coefficient, policy.maximum_interval, info.attempt
                )
        async with unit_of_work(self._sessions) as session:
            await self._jobs.record_failure(
                job_id, str(err), final=final, retry_in=retry_in, attempt=info.attempt, session=session
            )

    @staticmethod
    def _time_left(info: activity.Info, started: float) -> float | None:
        """Seconds this attempt may still spend on Sheets (its timeout less a margin for the database)."""
        if info.start_to_close_timeout is None:
            return None
        budget = info.start_to_close_timeout.total_seconds() - ATTEMPT_MARGIN_SECONDS
        return budget - (time.monotonic() - started)


def sheets_lease(call_timeout: float) -> Lease:
    """How long an attempt may call Sheets from its start: one call (the append) for a first
    attempt, two (read the key column, append) for a later one, each up to `call_timeout` seconds,
    plus the margin for the steps before the first call."""
    call, margin = timedelta(seconds=call_timeout), timedelta(seconds=LEASE_MARGIN_SECONDS)
    return Lease(first=call + margin, retry=2 * call + margin)


def _backoff(initial: timedelta, coefficient: float, cap: timedelta | None, attempt: int) -> timedelta:
    """Temporal's wait after failed attempt number `attempt`: initial * coefficient^(attempt-1), capped."""
    wait = initial * (coefficient ** (attempt - 1))
    return min(wait, cap) if cap is not None else wait
