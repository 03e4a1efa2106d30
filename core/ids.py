"""Ids given by a user or a caller: parsed in one place, so a bad one is the same error everywhere."""

from __future__ import annotations

import uuid

from core.errors import InvalidInputError


def parse_uuid(value: str, what: str, hint: str = "") -> uuid.UUID:
    """`value` as a UUID, or InvalidInputError naming `what` it should have been (e.g. "a discussion id")."""
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        raise InvalidInputError(f"{value!r} is not {what} (a UUID{hint})") from None
