"""The project's exception hierarchy: one base, one subclass per kind of failure.

Each class says whether trying again can help (`retryable`); the worker's interceptor
(activities/interceptors.py) reports an activity's error to Temporal accordingly, so no
retry policy keeps a list of error names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class IntakeError(Exception):
    """Base class of every error intake raises on purpose."""

    # Whether the same call may succeed later (an activity's attempt is then retried).
    retryable: ClassVar[bool] = True


class ConfigurationError(IntakeError):
    """A setting is missing or invalid, or the embedded stack is not running."""


class UnsafeOperationError(IntakeError):
    """A destructive operation was refused because the target looks like production."""

    retryable = False


class InvalidInputError(IntakeError):
    """Input from a user or an outside system failed validation; nothing was written."""

    retryable = False

    @classmethod
    def from_validation(cls, what: str, err: ValidationError) -> InvalidInputError:
        """`what` and each of pydantic's complaints (field: message) on one line."""
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in err.errors())
        return cls(f"{what}: {problems}")


class NotFoundError(IntakeError):
    """A row or resource that the caller named does not exist."""

    retryable = False


class ConflictError(IntakeError):
    """A write collides with existing data (a unique key, a state that forbids it)."""

    retryable = False


class ConcurrentWriteError(IntakeError):
    """Another transaction changed what this write depends on, in between: a retry starts over."""

    retryable = True


class RunFailedError(IntakeError):
    """A workflow run (or an Update on one) failed on the way; the message is the failure's own."""


class ServiceUnavailableError(IntakeError):
    """PostgreSQL or Temporal did not answer (or refused the connection); the message names which, and where."""


class StackError(IntakeError):
    """A process of the embedded stack failed to start or died."""


class MalformedFileError(InvalidInputError):
    """An uploaded file is not what its command reads (not CSV, a wrong header); nothing was written."""
