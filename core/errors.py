"""The project's exception hierarchy: one base, one subclass per kind of failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class IntakeError(Exception):
    """Base class of every error intake raises on purpose."""


class ConfigurationError(IntakeError):
    """A setting is missing or invalid, or the embedded stack is not running."""


class UnsafeOperationError(IntakeError):
    """A destructive operation was refused because the target looks like production."""


class InvalidInputError(IntakeError):
    """Input from a user or an outside system failed validation; nothing was written."""

    @classmethod
    def from_validation(cls, what: str, err: ValidationError) -> InvalidInputError:
        """`what` and each of pydantic's complaints (field: message) on one line."""
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in err.errors())
        return cls(f"{what}: {problems}")


class NotFoundError(IntakeError):
    """A row or resource that the caller named does not exist."""


class ConflictError(IntakeError):
    """A write collides with existing data (a unique key, a state that forbids it)."""


class RunFailedError(IntakeError):
    """A workflow run (or an Update on one) failed on the way; the message is the failure's own."""


class StackError(IntakeError):
    """A process of the embedded stack failed to start or died."""
