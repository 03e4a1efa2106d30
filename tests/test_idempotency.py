"""run_once: a write happens at most once per key, and a repeat returns the stored result."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.idempotency import run_once
from db.models.idempotency import IdempotencyKey
from db.repositories.health import HealthCheckRepository
from db.repository import Repository
from db.uow import unit_of_work

checks = HealthCheckRepository()
keys = Repository(IdempotencyKey)


class Made(BaseModel):
    row_id: int
    note: str


def counting_write(calls: list[int], note: str):
    async def write(session: AsyncSession) -> Made:
        calls.append(1)
        row = await checks.create(
            session=session, check_id=f"c{len(calls)}", message=note, database_version="18", workflow_id="wf"
        )
        return Made(row_id=row.id, note=note)

    return write


async def test_a_repeat_returns_the_stored_result_without_writing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    calls: list[int] = []
    async with unit_of_work(sessions) as session:
        first = await run_once(session, "k1", counting_write(calls, "first"), result_type=Made)
    async with unit_of_work(sessions) as session:
        again = await run_once(session, "k1", counting_write(calls, "second"), result_type=Made)

    assert first.replayed is False and again.replayed is True
    assert again.value == first.value == Made(row_id=first.value.row_id, note="first")
    assert len(calls) == 1
    async with sessions() as session:
        assert await checks.count(session=session) == 1
        assert await keys.count(session=session) == 1


async def test_a_failed_write_leaves_no_key_so_the_retry_runs_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def failing(session: AsyncSession) -> Made:
        await checks.create(session=session, check_id="half", message="m", database_version="18", workflow_id="wf")
        raise RuntimeError("crash after the write, before commit")

    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await run_once(session, "k2", failing, result_type=Made)

    calls: list[int] = []
    async with unit_of_work(sessions) as session:
        retried = await run_once(session, "k2", counting_write(calls, "retry"), result_type=Made)
    assert retried.replayed is False and len(calls) == 1
    async with sessions() as session:
        assert [r.message for r in await checks.find_many(session=session)] == ["retry"]


async def test_concurrent_callers_with_one_key_write_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    calls: list[int] = []

    async def slow_write(session: AsyncSession) -> Made:
        calls.append(1)
        await asyncio.sleep(0.2)  # the other caller arrives while this transaction is open
        row = await checks.create(
            session=session, check_id="only", message="m", database_version="18", workflow_id="wf"
        )
        return Made(row_id=row.id, note="only")

    async def call() -> Made:
        async with unit_of_work(sessions) as session:
            return (await run_once(session, "k3", slow_write, result_type=Made)).value

    results = await asyncio.gather(call(), call(), call())
    assert len(calls) == 1
    assert len({r.row_id for r in results}) == 1
    async with sessions() as session:
        assert await checks.count(session=session) == 1


async def test_run_once_outside_a_transaction_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        with pytest.raises(RuntimeError, match="unit_of_work"):
            await run_once(session, "k4", counting_write([], "x"), result_type=Made)
