"""One unit of work = one transaction: everything in it commits together or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ConflictError
from db.repositories.health import HealthCheckRepository
from db.uow import unit_of_work

checks = HealthCheckRepository()


def row(check_id: str) -> dict[str, str]:
    return {"check_id": check_id, "message": "m", "database_version": "18", "workflow_id": "wf"}


async def test_writes_in_a_unit_of_work_commit_together(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        await checks.create(session=session, **row("a"))
        await checks.create(session=session, **row("b"))

    async with sessions() as session:
        assert await checks.count(session=session) == 2


async def test_an_error_rolls_back_every_write_of_the_unit(sessions: async_sessionmaker[AsyncSession]) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with unit_of_work(sessions) as session:
            await checks.create(session=session, **row("a"))
            await checks.update_by_id(1, session=session, message="changed")
            await checks.create(session=session, **row("b"))
            raise Boom

    async with sessions() as session:
        assert await checks.count(session=session) == 0


async def test_a_constraint_violation_is_a_conflict_and_rolls_back_the_unit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(ConflictError, match="uq_health_checks_check_id"):
        async with unit_of_work(sessions) as session:
            await checks.create(session=session, **row("first"))
            await checks.create(session=session, **row("dup"))
            await checks.create(session=session, **row("dup"))

    async with sessions() as session:
        assert await checks.count(session=session) == 0
