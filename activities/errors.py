"""How an activity's failure reaches Temporal: one translation, applied by the worker's
interceptor (activities/interceptors.py) to every activity.

An intake error becomes an ApplicationError of its class's name (so a workflow can branch on
it, e.g. a quota stop), retryable or not as its class says (`IntakeError.retryable`); an
outside service's Retry-After becomes the next retry's delay. Any other exception reaches
Temporal as it is: retryable, as an unexpected failure should be.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from core.errors import IntakeError
from integrations.errors import RetryableIntegrationError


def as_application_error(err: IntakeError) -> ApplicationError:
    """The ApplicationError Temporal acts on for `err`."""
    delay = None
    if isinstance(err, RetryableIntegrationError) and err.retry_after:
        delay = timedelta(seconds=err.retry_after)
    return ApplicationError(str(err), type=type(err).__name__, non_retryable=not err.retryable, next_retry_delay=delay)
