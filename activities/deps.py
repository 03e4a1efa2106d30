"""What activity classes receive: built once per worker process by worker.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from db.engine import create_sessionmaker
from integrations.factory import ServiceClients


@dataclass(frozen=True)
class Deps:
    """The process's settings, its one engine (and sessions on it), and the outside-service clients."""

    settings: Settings
    engine: AsyncEngine
    services: ServiceClients
    sessions: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", create_sessionmaker(self.engine))
