"""The unit of work: one transaction, one session handed to every write inside it.

This is the seeds' `withTransaction` / executor pattern: everything written in
the block commits together, and any exception rolls all of it back.

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
async def single_statement(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for ONE write statement, which is its own transaction (autocommit).

    A single statement is atomic by itself; running it without BEGIN / COMMIT saves
    two round trips to the server. Use `unit_of_work` as soon as there are two.
    """
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
