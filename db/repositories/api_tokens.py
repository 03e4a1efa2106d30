from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.api import ApiToken
from db.repository import Repository


class ApiTokenRepository(Repository[ApiToken]):
    def __init__(self) -> None:
        super().__init__(ApiToken)

    async def live_by_hash(self, token_hash: str, *, session: AsyncSession) -> ApiToken | None:
        """The unrevoked token with this hash, its last use stamped now."""
        rows = await self.update(
            ApiToken.revoked_at.is_(None),
            values={"last_used_at": func.now()},
            session=session,
            token_hash=token_hash,
        )
        return rows[0] if rows else None

    async def listing(self, *, session: AsyncSession, team_id: str | None = None) -> list[ApiToken]:
        where = [ApiToken.team_id == team_id] if team_id is not None else []
        return await self.find_many(*where, session=session, order_by=[ApiToken.created_at])

    async def revoke(self, token_id: uuid.UUID, *, session: AsyncSession) -> ApiToken | None:
        """Revoke the token (a second revoke keeps the first time); None when there is no such token."""
        rows = await self.update(
            ApiToken.revoked_at.is_(None), values={"revoked_at": func.now()}, session=session, id=token_id
        )
        return rows[0] if rows else await self.find_by_id(token_id, session=session)
