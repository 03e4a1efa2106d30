"""What activity classes receive: built once per worker process by worker.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings


@dataclass(frozen=True)
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    # integrations.ServiceClients once the outside-service clients exist; None where unused.
    services: Any = None
