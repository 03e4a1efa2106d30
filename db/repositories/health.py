from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.health import HealthCheck
from db.repository import Repository


class HealthCheckRepository(Repository[HealthCheck]):
    def __init__(self) -> None:
        super().__init__(HealthCheck)

    async def server_version(self, *, session: AsyncSession) -> str:
        return str(await session.scalar(text("SHOW server_version")))

    async def confirm(self, check_id: str, *, session: AsyncSession) -> HealthCheck | None:
        """Stamp `confirmed_at` once; a repeat keeps the first stamp."""
        rows = await self.update(
            HealthCheck.check_id == check_id,
            HealthCheck.confirmed_at.is_(None),
            values={"confirmed_at": func.now()},
            session=session,
        )
        if rows:
            return rows[0]
        return await session.scalar(select(HealthCheck).where(HealthCheck.check_id == check_id))
