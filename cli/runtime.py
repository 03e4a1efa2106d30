"""Running a command's async body with the database: one engine per command, disposed after."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from db.engine import create_sessionmaker, engine_from_settings

T = TypeVar("T")


def with_engine(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = engine_from_settings(settings)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def with_sessions(settings: Settings, action: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    return with_engine(settings, lambda engine: action(create_sessionmaker(engine)))
