"""Whether PostgreSQL is reachable: the one place that tells a lost connection from a refused statement.

A statement can fail in two ways that callers must not confuse:

- the database refused it (a constraint, a trigger, a lock timeout, bad SQL): retrying the
  same statement gets the same answer, and a best-effort write may give up on it;
- the connection to the database is gone (PostgreSQL restarted or was killed, the network
  dropped, a pooled connection died while it was idle, a new one was refused): nothing was
  decided, and the same statement succeeds once the database answers again.

`is_lost_connection` says which; every fallback that swallows a database error (best-effort
stage and job updates) asks it first and re-raises a lost connection, so the activity fails
and is run again when the database is back (activities/interceptors.py waits for that with
`database_answers`).
"""

from __future__ import annotations

import traceback

import asyncpg.exceptions
from sqlalchemy import literal, select
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import IntakeError

# Driver errors that mean the connection is gone: SQLSTATE class 08 (connection exception,
# including asyncpg's ConnectionDoesNotExistError), 57P01-57P03 (the server shuts down, crashed,
# or is starting up), and the client's own "cannot connect".
_LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ClientCannotConnectError,
)
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def is_lost_connection(error: BaseException) -> bool:
    """True when `error` says the connection to PostgreSQL is gone, not that a statement was refused.

    Recognised: a SQLAlchemy error whose connection was invalidated (SQLAlchemy asks the dialect
    whether the connection is closed), a pool's `DisconnectionError`, asyncpg's connection errors
    (above, and an `InterfaceError` about a closed connection) raised bare or wrapped by SQLAlchemy,
    and an `OSError` (refused, reset, timed out) raised inside the driver while connecting. An error
    intake raised on purpose (an outside service's, classified by integrations/) never is one,
    whatever its cause.
    """
    if isinstance(error, IntakeError):
        return False
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or any(_is_lost(cause) for cause in _causes(error.orig))
    if isinstance(error, DisconnectionError):
        return True
    if isinstance(error, OSError):
        return _raised_by_driver(error)
    return any(_is_lost(cause) for cause in _causes(error))


def _is_lost(error: BaseException) -> bool:
    if isinstance(error, _LOST):
        return True
    return isinstance(error, asyncpg.exceptions.InterfaceError) and "closed" in str(error)


def _causes(error: BaseException | None) -> list[BaseException]:
    """The error and what caused it (SQLAlchemy's asyncpg adapter wraps the driver's error)."""
    chain: list[BaseException] = []
    while error is not None and error not in chain and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _raised_by_driver(error: BaseException) -> bool:
    """Whether the error was raised in asyncpg or SQLAlchemy code (not by an outside service's client)."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if frame.f_globals.get("__name__", "").split(".")[0] in _DRIVER_MODULES:
            return True
    return False


_PROBE = select(literal(1))


async def database_answers(engine: AsyncEngine) -> bool:
    """Whether PostgreSQL answers a trivial query now (False while it cannot be reached).

    A pooled connection that died while the database was away fails here and is replaced: the
    probe tries again at once on a fresh one, so True means the database answers, and False that
    a new connection could not be made.
    """
    for _ in range(engine.pool.size() + 1):  # type: ignore[attr-defined]
        try:
            async with engine.connect() as connection:
                await connection.execute(_PROBE)
            return True
        except Exception as err:
            if not is_lost_connection(err):
                raise
            if not (isinstance(err, DBAPIError) and err.connection_invalidated):
                return False  # no new connection: the database is away
    return False
