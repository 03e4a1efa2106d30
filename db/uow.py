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
