"""Writes that happen at most once per key, inside the caller's transaction.

`run_once` claims the key with `INSERT ... ON CONFLICT DO NOTHING` in the same
transaction as the write itself, then stores what the write returned. So:

- the write and its key commit together or not at all (a crash before commit
  leaves no key, and the retry runs the write again);
- a repeat (an activity retried after its commit, a redelivered webhook) finds
  the key and gets the stored result back, without writing anything;
- two concurrent callers serialise on the key's unique index: the second waits
  for the first to commit, then sees the key and returns the stored result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.idempotency import IdempotencyKey

T = TypeVar("T")


@dataclass(frozen=True)
class Once(Generic[T]):
    """What `run_once` returns: the write's result, and whether this call replayed a stored one."""

    value: T
    replayed: bool


async def run_once(
    session: AsyncSession,
    key: str,
    write: Callable[[AsyncSession], Awaitable[T]],
    *,
    result_type: Any,
    scope: str = "write",
) -> Once[T]:
    """Run `write(session)` unless `key` was already done; either way return its result.

    `result_type` is what `write` returns (a pydantic model, a dict, an int ...);
    it is stored as JSON and validated back into that type on a repeat.
    """
    if not session.in_transaction():
        raise RuntimeError("run_once needs the caller's transaction: use it inside unit_of_work")
    adapter: TypeAdapter[T] = TypeAdapter(result_type)
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(key=key, scope=scope)
        .on_conflict_do_nothing(index_elements=[IdempotencyKey.key])
        .returning(IdempotencyKey.key)
    )
    if claimed is None:
        stored = await session.scalar(select(IdempotencyKey.result).where(IdempotencyKey.key == key))
        return Once(adapter.validate_python(stored), replayed=True)

    value = await write(session)
    await session.execute(
        update(IdempotencyKey).where(IdempotencyKey.key == key).values(result=adapter.dump_python(value, mode="json"))
    )
    return Once(value, replayed=False)


async def stored_result(session: AsyncSession, key: str, result_type: Any) -> Any | None:
    """What `run_once` stored for `key`, validated into `result_type`; None when the key is not done.

    Read-only, for a caller that must answer a repeat before doing work that
    would change its answer (e.g. an activity retried after its commit).
    A key claimed by a transaction still in flight is not visible yet: None.
    """
    stored = await session.scalar(
        select(IdempotencyKey.result).where(IdempotencyKey.key == key, IdempotencyKey.result.is_not(None))
    )
    return None if stored is None else TypeAdapter(result_type).validate_python(stored)
