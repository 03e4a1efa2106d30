"""The project's exception hierarchy: one base, one subclass per kind of failure."""

from __future__ import annotations


class IntakeError(Exception):
    """Base class of every error intake raises on purpose."""


class ConfigurationError(IntakeError):
    """A setting is missing or invalid, or the embedded stack is not running."""


class UnsafeOperationError(IntakeError):
    """A destructive operation was refused because the target looks like production."""


class InvalidInputError(IntakeError):
    """Input from a user or an outside system failed validation; nothing was written."""


class NotFoundError(IntakeError):
    """A row or resource that the caller named does not exist."""


class ConflictError(IntakeError):
    """A write collides with existing data (a unique key, a state that forbids it)."""


class StackError(IntakeError):
    """A process of the embedded stack failed to start or died."""
