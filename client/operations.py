"""Operations on running workflows and activities, for the CLI and the admin API alike:
pause, resume, cancel, terminate, reset one run, the same by a visibility query (Temporal's
batch operations), and pausing / resuming one activity of a run.

Workflow pause needs the server's dynamic config `frontend.WorkflowPauseEnabled=true` (the
embedded stack and the tests' server set it: stack/temporal.py); the SDK has no call for it
yet, so it, activity pause and batch operations go through the raw workflow service. Every
error Temporal answers becomes one of ours: an unknown run is NotFoundError, a request its
state forbids (pausing a closed run, resuming one not paused) ConflictError, a malformed query
InvalidInputError.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from google.protobuf.empty_pb2 import Empty
from temporalio.api.batch.v1 import (
    BatchOperationCancellation,
    BatchOperationReset,
    BatchOperationTermination,
)
from temporalio.api.common.v1 import ResetOptions, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, EventType
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    PauseActivityRequest,
    PauseWorkflowExecutionRequest,
    ResetWorkflowExecutionRequest,
    StartBatchOperationRequest,
    UnpauseActivityRequest,
    UnpauseWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.errors import ConflictError, InvalidInputError, NotFoundError

T = TypeVar("T")
IDENTITY = "intake-cli"
BatchKind = Literal["cancel", "terminate", "reset"]
BATCH_KINDS: tuple[BatchKind, ...] = ("cancel", "terminate", "reset")
ResetTo = Literal["last", "first"]


async def _call(what: str, call: Awaitable[T]) -> T:
    """Await a Temporal call; its error as one of ours, naming `what`."""
    try:
        return await call
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"{what}: {err.message}") from None
        if err.status in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ALREADY_EXISTS):
            raise ConflictError(f"{what}: {err.message}") from None
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidInputError(f"{what}: {err.message}") from None
        raise


def _activity_id(activity: str) -> str:
    """An activity is named by its id (digits, as the SDK numbers them) or by its type."""
    return activity if activity.isdigit() else ""


def _activity_type(activity: str) -> str:
    return "" if activity.isdigit() else activity


def _execution(workflow_id: str, run_id: str | None) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=workflow_id, run_id=run_id or "")


async def pause_workflow(client: Client, workflow_id: str, *, run_id: str | None = None, reason: str = "") -> None:
    """Pause the run: no workflow or activity tasks are dispatched until it is resumed."""
    await _call(
        f"pause {workflow_id}",
        client.workflow_service.pause_workflow_execution(
            PauseWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=workflow_id,
                run_id=run_id or "",
                identity=IDENTITY,
                reason=reason or "paused with intake",
                request_id=str(uuid.uuid4()),
            )
        ),
    )


async def resume_workflow(client: Client, workflow_id: str, *, run_id: str | None = None, reason: str = "") -> None:
    """Resume (unpause) a paused run."""
    await _call(
        f"resume {workflow_id}",
        client.workflow_service.unpause_workflow_execution(
            UnpauseWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=workflow_id,
                run_id=run_id or "",
                identity=IDENTITY,
                reason=reason or "resumed with intake",
                request_id=str(uuid.uuid4()),
            )
        ),
    )


async def cancel_workflow(client: Client, workflow_id: str, *, run_id: str | None = None) -> None:
    """Ask the run to cancel (it may clean up first)."""
    await _call(f"cancel {workflow_id}", client.get_workflow_handle(workflow_id, run_id=run_id).cancel())


async def terminate_workflow(client: Client, workflow_id: str, *, run_id: str | None = None, reason: str = "") -> None:
    """End the run at once (no cleanup in the workflow)."""
    await _call(
        f"terminate {workflow_id}",
        client.get_workflow_handle(workflow_id, run_id=run_id).terminate(reason=reason or "terminated with intake"),
    )


async def reset_workflow(
    client: Client, workflow_id: str, *, run_id: str | None = None, to: ResetTo = "last", reason: str = ""
) -> str:
    """Reset the run to its last (or first) completed workflow task: a new run replays up to
    there and goes on. Returns the new run's id."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    completed: list[int] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed.append(event.event_id)
    if not completed:
        raise ConflictError(f"reset {workflow_id}: the run has no completed workflow task to reset to")
    answer = await _call(
        f"reset {workflow_id}",
        client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=_execution(workflow_id, run_id),
                reason=reason or "reset with intake",
                workflow_task_finish_event_id=completed[-1] if to == "last" else completed[0],
                request_id=str(uuid.uuid4()),
            )
        ),
    )
    return str(answer.run_id)


async def pause_activity(
    client: Client, workflow_id: str, activity: str, *, run_id: str | None = None, reason: str = ""
) -> None:
    """Pause one activity of a run, by activity id or by activity type (all of that type)."""
    await _call(
        f"pause activity {activity} of {workflow_id}",
        client.workflow_service.pause_activity(
            PauseActivityRequest(
                namespace=client.namespace,
                execution=_execution(workflow_id, run_id),
                identity=IDENTITY,
                reason=reason or "paused with intake",
                id=_activity_id(activity),
                type=_activity_type(activity),
            )
        ),
    )


async def resume_activity(client: Client, workflow_id: str, activity: str, *, run_id: str | None = None) -> None:
    """Resume a paused activity (by id or type); it runs again at once."""
    await _call(
        f"resume activity {activity} of {workflow_id}",
        client.workflow_service.unpause_activity(
            UnpauseActivityRequest(
                namespace=client.namespace,
                execution=_execution(workflow_id, run_id),
                identity=IDENTITY,
                id=_activity_id(activity),
                type=_activity_type(activity),
            )
        ),
    )


@dataclass(frozen=True)
class BatchResult:
    job_id: str
    state: str
    total: int
    completed: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()


async def start_batch(client: Client, kind: BatchKind, query: str, *, reason: str = "", to: ResetTo = "last") -> str:
    """Start a batch operation on every run the visibility query matches; returns its job id."""
    if kind not in BATCH_KINDS:
        raise InvalidInputError(f"unknown batch operation {kind!r}; one of {', '.join(BATCH_KINDS)}")
    if not query.strip():
        raise InvalidInputError("a batch operation needs a --query")
    operation: dict[str, Any]
    if kind == "cancel":
        operation = {"cancellation_operation": BatchOperationCancellation(identity=IDENTITY)}
    elif kind == "terminate":
        operation = {"termination_operation": BatchOperationTermination(identity=IDENTITY)}
    else:
        options = (
            ResetOptions(last_workflow_task=Empty()) if to == "last" else ResetOptions(first_workflow_task=Empty())
        )
        operation = {"reset_operation": BatchOperationReset(identity=IDENTITY, options=options)}
    # A malformed query, or one no run matches, is refused before any batch starts.
    matching = await _call(f"{kind} by query {query!r}", client.count_workflows(query))
    if matching.count == 0:
        raise NotFoundError(f"{kind} by query: no run matches {query!r}")
    job_id = f"intake-{kind}-{uuid.uuid4()}"
    await _call(
        f"{kind} by query",
        client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                visibility_query=query,
                job_id=job_id,
                reason=reason or f"{kind} with intake",
                **operation,
            )
        ),
    )
    return job_id


async def describe_batch(client: Client, job_id: str) -> BatchResult:
    answer = await _call(
        f"batch {job_id}",
        client.workflow_service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=client.namespace, job_id=job_id)
        ),
    )
    return BatchResult(
        job_id=job_id,
        state=BatchOperationState.Name(answer.state).removeprefix("BATCH_OPERATION_STATE_").lower(),
        total=answer.total_operation_count,
        completed=answer.complete_operation_count,
        failed=answer.failure_operation_count,
    )


async def wait_for_batch(client: Client, job_id: str, *, within: float = 60.0) -> BatchResult:
    """The batch's result once it is no longer running (or as it is after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        result = await describe_batch(client, job_id)
        if result.state != "running" or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(0.2)
