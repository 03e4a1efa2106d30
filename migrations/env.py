"""Alembic environment: async, URL from settings, every model imported, types compared."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import db.models  # noqa: F401  (registers every table on Base.metadata)
from core.settings import Settings
from db.base import Base
from db.engine import connection_arguments, settings_tls

config = context.config
target_metadata = Base.metadata


def _connection() -> tuple[str, dict[str, Any]]:
    """The asyncpg URL and connect arguments (TLS as DATABASE_URL or DB_SSL_* ask)."""
    settings = Settings()
    url = config.attributes.get("database_url") or settings.require_database_url()
    return connection_arguments(url, settings_tls(settings))


def _database_url() -> str:
    return _connection()[0]


def _configure(
    connection: Connection | None = None,
    *,
    url: str | None = None,
    literal_binds: bool = False,
    dialect_opts: dict[str, Any] | None = None,
) -> None:
    """Online with a `connection`, or offline (SQL to stdout) with a `url` and literal binds."""
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=False,
        literal_binds=literal_binds,
        dialect_opts=dialect_opts,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url, connect_args = _connection()
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run_sync(connection)
else:
    asyncio.run(_run_async())
