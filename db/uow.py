"""The unit of work: one transaction, one session handed to every write inside it.

Everything written in the block commits together, and any exception rolls all of it back.

    async with unit_of_work(sessions) as session:
        await repo.create(session=session, ...)
        await other_repo.update_by_id(..., session=session)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose statements each stand alone (autocommit): for ONE write, or for reads.

    A single statement is atomic by itself, and reads that need no common snapshot
    need no transaction: without BEGIN and COMMIT / ROLLBACK each saves two round
    trips to the server. As soon as two writes must go together, use `unit_of_work`.
    """
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
