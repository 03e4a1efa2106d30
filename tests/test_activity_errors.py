"""Errors reach Temporal one way: the worker's interceptor turns the project's errors into
ApplicationErrors typed by class, retryable or not as the class says, for every activity."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.deps import Deps
from activities.errors import as_application_error
from core.errors import ConflictError, IntakeError, InvalidInputError, NotFoundError
from integrations.errors import (
    AuthenticationError,
    ErrorContext,
    QuotaExceededError,
    RateLimitedError,
    RetryableIntegrationError,
    SyncCursorExpiredError,
)
from worker import activity_interceptors

CALL: ErrorContext = {"service": "sheets", "operation": "append"}


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (InvalidInputError("bad"), False),
        (NotFoundError("gone"), False),
        (ConflictError("taken"), False),
        (QuotaExceededError("quota", **CALL), False),
        (AuthenticationError("who", **CALL), False),
        (SyncCursorExpiredError("old cursor", **CALL), False),
        (RetryableIntegrationError("500", **CALL), True),
        (RateLimitedError("slow down", retry_after=7, **CALL), True),
        (IntakeError("something unexpected"), True),
    ],
)
def test_each_error_class_says_whether_a_retry_can_help(error: IntakeError, retryable: bool) -> None:
    translated = as_application_error(error)
    assert translated.type == type(error).__name__
    assert translated.non_retryable is (not retryable)
    assert str(error) in str(translated)


def test_a_rate_limit_sets_the_next_retry_delay() -> None:
    translated = as_application_error(RateLimitedError("slow down", retry_after=7, **CALL))
    assert translated.next_retry_delay == timedelta(seconds=7)


ATTEMPTS: list[int] = []


@activity.defn(name="test_raise_intake_error")
async def raise_intake_error(kind: str) -> str:
    ATTEMPTS.append(activity.info().attempt)
    if kind == "not_found":
        raise NotFoundError("no such row")
    if kind == "flaky" and activity.info().attempt < 3:
        raise RetryableIntegrationError("a 503", service="sheets", operation="append")
    return "done"


@workflow.defn(name="TestRaiseIntakeError")
class RaiseIntakeErrorWorkflow:
    @workflow.run
    async def run(self, kind: str) -> str:
        return await workflow.execute_activity(
            raise_intake_error,
            kind,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=5),
        )


async def test_the_worker_translates_for_every_activity(client: Client, deps: Deps, task_queue: str) -> None:
    """No list of error names in the retry policy: a NotFoundError stops at once, a 503 is retried."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[RaiseIntakeErrorWorkflow],
        activities=[raise_intake_error],
        interceptors=activity_interceptors(deps),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):  # a test's workflow, no sandbox
        ATTEMPTS.clear()
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                RaiseIntakeErrorWorkflow.run, "not_found", id=f"errors-{uuid.uuid4()}", task_queue=task_queue
            )
        assert ATTEMPTS == [1]
        cause = failed.value.cause
        assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
        assert (cause.cause.type, cause.cause.non_retryable) == ("NotFoundError", True)

        ATTEMPTS.clear()
        assert (
            await client.execute_workflow(
                RaiseIntakeErrorWorkflow.run, "flaky", id=f"errors-{uuid.uuid4()}", task_queue=task_queue
            )
            == "done"
        )
        assert ATTEMPTS == [1, 2, 3]
