"""Keyset pagination: a page of rows after a cursor, in SQL, with an opaque cursor for the next page.

A list is ordered by a tuple of columns, all descending (newest first) or all ascending, whose
last column is unique (the row's id), so `(a, b, id) < (cursor a, cursor b, cursor id)` picks
exactly the rows after the cursor's, however rows are added meanwhile, and an index on those
columns serves it. The cursor is the last row's values, JSON in URL-safe base64: opaque to
callers, checked when it comes back (a malformed one is InvalidInputError).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_

from core.errors import InvalidInputError

RowT = TypeVar("RowT")
SelectT = TypeVar("SelectT", bound=Select)

# The largest page a list serves, whatever the caller asks.
MAX_LIMIT = 200


@dataclass(frozen=True)
class Keyset:
    """The columns a list is ordered by (the last one unique) and the Python type of each."""

    # Columns or column expressions (mapped attributes included).
    columns: Sequence[Any]
    kinds: Sequence[type]
    descending: bool = True

    def apply(self, stmt: SelectT, cursor: str | None, limit: int) -> SelectT:
        """`stmt` ordered by the keyset, after `cursor`, one row more than `limit` (to know if more follow)."""
        if cursor is not None:
            values = decode_cursor(cursor, self.kinds)
            key = tuple_(*self.columns)
            after = tuple_(*(literal(v, c.type) for v, c in zip(values, self.columns, strict=True)))
            stmt = stmt.where(key < after if self.descending else key > after)
        order = [c.desc() if self.descending else c.asc() for c in self.columns]
        return stmt.order_by(*order).limit(check_limit(limit) + 1)


@dataclass(frozen=True)
class Page(Generic[RowT]):
    rows: list[RowT]
    next_cursor: str | None


def page_of(rows: Sequence[RowT], limit: int, key: Any) -> Page[RowT]:
    """The first `limit` rows and the cursor after the last of them when more rows follow.

    `key(row)` gives a row's keyset values, in the keyset's order.
    """
    if len(rows) <= limit:
        return Page(list(rows), None)
    kept = list(rows[:limit])
    return Page(kept, encode_cursor(key(kept[-1])))


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
    return limit


def _tagged(value: Any) -> list[Any]:
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a cursor cannot hold {type(value).__name__}")
    return ["i", value] if isinstance(value, int) else ["s", value]


TAGS: dict[type, str] = {datetime: "t", uuid.UUID: "u", int: "i", str: "s"}


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([_tagged(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> tuple[Any, ...]:
    """The values a cursor of this list holds, or InvalidInputError when it is not one."""
    problem = InvalidInputError(f"cursor {cursor[:60]!r} is not one this list gave (pass next_cursor back as it is)")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise problem from None
    if not isinstance(parts, list) or len(parts) != len(kinds):
        raise problem
    values: list[Any] = []
    for part, kind in zip(parts, kinds, strict=True):
        if not (isinstance(part, list) and len(part) == 2 and part[0] == TAGS[kind]):
            raise problem
        value = part[1]
        try:
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive")
                values.append(parsed)
            elif kind is uuid.UUID:
                values.append(uuid.UUID(value))
            elif kind is int:
                if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
                    raise ValueError("not an integer")
                values.append(value)
            else:
                if not isinstance(value, str):
                    raise ValueError("not a string")
                values.append(value)
        except (TypeError, ValueError):
            raise problem from None
    return tuple(values)
