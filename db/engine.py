"""The async engine and session factory: built once per process, in the entry point."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.errors import ConfigurationError
from db.tls import DatabaseTLS, split_url, ssl_argument

log = logging.getLogger(__name__)


def async_url(url: str) -> str:
    """The URL with the asyncpg driver, whatever `postgresql://` form it was given in."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"DATABASE_URL must point at PostgreSQL, got a {parsed.get_backend_name()!r} URL: {redact_url(url)}"
        )
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    """The URL with its password masked, for logs and messages: a password is never printed."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unparseable database URL>"


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    idle_timeout: float = 20.0,
    connect_timeout: float = 10.0,
    tls: DatabaseTLS | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine with at most `pool_size` connections (no overflow).

    A pooled connection idle for longer than `idle_timeout` seconds is discarded
    at checkout and replaced by a fresh one, so we never hand out a connection a
    load balancer or the server has silently dropped. TLS options in the URL
    (`sslmode=`, `sslrootcert=`, ...) or in `tls` (which wins) become asyncpg's `ssl=`.
    """
    driver_url, connect_args = connection_arguments(url, tls)
    engine = create_async_engine(
        driver_url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        connect_args={"timeout": connect_timeout, **connect_args},
        **kwargs,
    )
    _expire_idle_connections(engine, idle_timeout)
    log.debug("database engine for %s (pool %d)", redact_url(url), pool_size)
    return engine


def connection_arguments(url: str, tls: DatabaseTLS | None = None) -> tuple[str, dict[str, Any]]:
    """The asyncpg URL without TLS options, and asyncpg's `ssl=` from them (or from `tls`, which wins)."""
    bare_url, url_tls = split_url(url)
    ssl = ssl_argument(url_tls.overridden_by(tls or DatabaseTLS()))
    return async_url(bare_url), ({"ssl": ssl} if ssl is not None else {})


def settings_tls(settings: Any) -> DatabaseTLS:
    """DB_SSL_MODE / DB_SSL_ROOT_CERT / DB_SSL_CERT / DB_SSL_KEY of `core.settings.Settings`."""
    return DatabaseTLS(
        mode=settings.db_ssl_mode,
        root_cert=settings.db_ssl_root_cert,
        cert=settings.db_ssl_cert,
        key=settings.db_ssl_key,
    )


def _expire_idle_connections(engine: AsyncEngine, idle_timeout: float) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _remember_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _drop_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at > idle_timeout:
            # The pool closes this connection and retries the checkout with a new one.
            raise exc.DisconnectionError("connection idle past DB_POOL_IDLE_TIMEOUT")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_from_settings(settings: Any) -> AsyncEngine:
    """The engine for `core.settings.Settings` (DATABASE_URL or the embedded stack)."""
    return create_engine(
        settings.require_database_url(),
        pool_size=settings.db_pool_size,
        idle_timeout=settings.db_pool_idle_timeout,
        connect_timeout=settings.db_connect_timeout,
        tls=settings_tls(settings),
    )
