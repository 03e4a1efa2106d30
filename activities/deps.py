"""What activity classes receive: built once per worker process by worker.py."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from integrations.factory import ServiceClients


@dataclass(frozen=True)
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    services: ServiceClients
