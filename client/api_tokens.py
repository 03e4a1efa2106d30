"""Team tokens for the admin API: made here, shown once, kept as a sha256.

A token is 32 random bytes (`itk_` + URL-safe base64): too much entropy to guess, so
a plain sha256 of it is a safe record (a slow password hash protects weak secrets,
which these are not) and lets the API find a token by its hash in one indexed read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.models.api import ApiToken
from db.repositories.api_tokens import ApiTokenRepository
from db.uow import unit_of_work

TOKEN_PREFIX = "itk_"
# How much of a token a listing shows (the prefix and a few characters).
SHOWN_CHARACTERS = 10
TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class TokenInfo:
    """A token as a listing shows it: never the token itself."""

    id: uuid.UUID
    team_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenInfo:
        return cls(row.id, row.team_id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


@dataclass(frozen=True)
class Caller:
    """Who an API request comes from: a team, through one of its tokens."""

    team_id: str
    token_id: uuid.UUID


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_team_id(team_id: str) -> str:
    if not TEAM_ID.match(team_id):
        raise InvalidInputError(
            f"team id {team_id!r} is not 1-100 letters, digits, '.', '_' or '-' starting with a letter or digit"
        )
    return team_id


async def create_token(
    sessions: async_sessionmaker[AsyncSession], *, team_id: str, name: str = ""
) -> tuple[str, TokenInfo]:
    """A new token for `team_id`: the token (to show once) and its record."""
    check_team_id(team_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with unit_of_work(sessions) as session:
        row = await ApiTokenRepository().create(
            session=session, team_id=team_id, name=name, token_hash=hash_token(token), prefix=token[:SHOWN_CHARACTERS]
        )
        await session.refresh(row)
        return token, TokenInfo.of(row)


async def list_tokens(sessions: async_sessionmaker[AsyncSession], *, team_id: str | None = None) -> list[TokenInfo]:
    async with sessions() as session:
        return [TokenInfo.of(row) for row in await ApiTokenRepository().listing(session=session, team_id=team_id)]


async def revoke_token(sessions: async_sessionmaker[AsyncSession], token_id: str) -> TokenInfo:
    """Revoke a token by its id; revoking it again is harmless."""
    id_ = parse_uuid(token_id, what="a token id")
    async with unit_of_work(sessions) as session:
        row = await ApiTokenRepository().revoke(id_, session=session)
        if row is None:
            raise NotFoundError(f"no API token {token_id}")
        return TokenInfo.of(row)


async def authenticate(sessions: async_sessionmaker[AsyncSession], token: str) -> Caller | None:
    """The caller a presented token stands for, or None for an unknown or revoked one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with unit_of_work(sessions) as session:
        row = await ApiTokenRepository().live_by_hash(hash_token(token), session=session)
        return Caller(row.team_id, row.id) if row is not None else None
