"""Timeouts and retry policies shared by the workflows: every activity call has both."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Errors that retrying cannot fix (activities/errors.py raises them as non-retryable
# ApplicationErrors of these types; listing them here also covers a raise that forgets to).
NON_RETRYABLE = [
    "InvalidInputError", "NotFoundError", "ConflictError",
    "PermanentIntegrationError", "AuthenticationError", "QuotaExceededError",
]

# One short Postgres transaction.
DB_WRITE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=20,
        non_retryable_error_types=NON_RETRYABLE,
    ),
}

# A call to an outside service: backoff between attempts (an ApplicationError's
# next_retry_delay, set from the service's Retry-After, takes precedence), bounded.
OUTSIDE_CALL = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
        non_retryable_error_types=NON_RETRYABLE,
    ),
}
