"""How activities report failures to Temporal: one translation for every activity.

- an outside service's retryable error -> a retryable ApplicationError, with the
  service's Retry-After as the next retry delay;
- quota used up, a permanent error, bad input, a missing row -> non-retryable,
  typed, so the workflow can tell what happened and mark the job failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from core.errors import ConflictError, IntakeError, InvalidInputError, NotFoundError
from integrations.errors import IntegrationError, RetryableIntegrationError

NON_RETRYABLE_INTAKE_ERRORS = (InvalidInputError, NotFoundError, ConflictError)


@contextmanager
def reported_to_temporal() -> Iterator[None]:
    """Run an activity body, turning intake's errors into ApplicationErrors Temporal acts on."""
    try:
        yield
    except RetryableIntegrationError as err:
        delay = timedelta(seconds=err.retry_after) if err.retry_after else None
        raise ApplicationError(str(err), type=type(err).__name__, next_retry_delay=delay) from err
    except IntegrationError as err:
        raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from err
    except NON_RETRYABLE_INTAKE_ERRORS as err:
        raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from err
    except IntakeError as err:
        raise ApplicationError(str(err), type=type(err).__name__) from err
