"""A failed workflow run, or a failed Update, as one of intake's errors (for the CLI and the API).

A workflow reports why it failed in an ApplicationError, often wrapped in the
ActivityError or ChildWorkflowError that carried it up. The error returned says
it in the failure's own words, and its kind tells a refusal from a failure:
an InvalidInputError, NotFoundError or ConflictError raised by an activity
(reported under its class name) stays that kind, since the run refused what
it was given; anything else is a RunFailedError.
"""

from __future__ import annotations

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

from core.errors import ConflictError, IntakeError, InvalidInputError, NotFoundError, RunFailedError

REFUSALS: dict[str, type[IntakeError]] = {
    kind.__name__: kind for kind in (InvalidInputError, NotFoundError, ConflictError)
}


def failure_error(err: WorkflowFailureError | WorkflowUpdateFailedError) -> IntakeError:
    """The failure's message as an IntakeError: a refusal keeps its kind, the rest is RunFailedError."""
    reason: BaseException | None = err.cause
    while isinstance(reason, ActivityError | ChildWorkflowError) and reason.cause is not None:
        reason = reason.cause  # past the wrappers, to the failure that says why
    message = (reason.message if isinstance(reason, FailureError) else str(reason or "")) or str(err)
    if isinstance(reason, ApplicationError) and reason.type in REFUSALS:
        return REFUSALS[reason.type](message)
    return RunFailedError(message)
