"""Waiting for PostgreSQL and Temporal at start: one function for the worker, the mirror and the API.

In a topology started in any order (compose, Kubernetes, systemd) a process may start before
the database or the Temporal server answers, or before its namespace exists. Crashing then
only makes its supervisor restart it in a loop; `wait_for_dependencies` instead tries each
dependency until it answers, says once what it waits for (one line per dependency, and one
more when it answers), and gives up after INTAKE_WAIT_TIMEOUT with an error that names the
dependency, where it was looked for (passwords hidden) and its last answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg.exceptions
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.errors import IntakeError, ServiceUnavailableError
from core.settings import Settings
from core.temporal import connect
from db.availability import database_answers, is_lost_connection
from db.engine import redact_url

log = logging.getLogger("intake.readiness")

# Between two tries, growing up to the cap.
RETRY_INTERVAL, RETRY_INTERVAL_CAP = 0.5, 5.0


class DependencyUnavailableError(ServiceUnavailableError):
    """PostgreSQL or Temporal did not answer within INTAKE_WAIT_TIMEOUT at a process's start."""


# The SDK's connect failure: `Failed client connect: ... Os { code: 111, ..., message: "Connection refused" }`.
_TEMPORAL_REASON = re.compile(r'message: "([^"]+)"')


def unavailable_service(error: BaseException, settings: Settings) -> ServiceUnavailableError | None:
    """The error as "which service did not answer, where, why", when a command's error is that
    PostgreSQL or Temporal could not be reached (or refused the connection); None for any other.
    The CLI says it in one line instead of a traceback."""
    if isinstance(error, IntakeError):
        return None
    if is_lost_connection(error) or _refused_by_postgres(error):
        where = redact_url(settings.database_url) if settings.database_url else "DATABASE_URL"
        return ServiceUnavailableError(
            f"cannot connect to PostgreSQL at {where}: {_one_line(_reason(error), 200)} "
            "(is the stack up, `intake up`, and DATABASE_URL right?)"
        )
    temporal = _temporal_reason(error)
    if temporal is not None:
        where = settings.temporal_address or "TEMPORAL_ADDRESS"
        return ServiceUnavailableError(
            f"cannot connect to Temporal at {where}: {_one_line(temporal, 200)} "
            "(is the stack up, `intake up`, and TEMPORAL_ADDRESS right?)"
        )
    return None


def _reason(error: BaseException) -> str:
    """The innermost cause's words (the driver's own), not SQLAlchemy's wrapping."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


def _refused_by_postgres(error: BaseException) -> bool:
    """PostgreSQL answered the connection with a refusal: a wrong password, no such database or role."""
    refusals = (
        asyncpg.exceptions.InvalidAuthorizationSpecificationError,
        asyncpg.exceptions.InvalidPasswordError,
        asyncpg.exceptions.InvalidCatalogNameError,
    )
    chain: list[BaseException] = []
    while error is not None and error not in chain and len(chain) < 10:
        chain.append(error)
        if isinstance(error, refusals):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def _temporal_reason(error: BaseException) -> str | None:
    if isinstance(error, RuntimeError) and str(error).startswith("Failed client connect"):
        found = _TEMPORAL_REASON.search(str(error))
        return found.group(1) if found else str(error)
    if isinstance(error, RPCError) and error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return f"{error.status.name}: {error.message}"
    return None


@dataclass(frozen=True)
class Ready:
    """What `wait_for_dependencies` found: the Temporal client it connected (None when not asked)."""

    client: Client | None
    waited: float


async def wait_for_dependencies(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    temporal: bool = True,
    deadline_seconds: float | None = None,
    say: Callable[[str], None] | None = None,
) -> Ready:
    """Wait until PostgreSQL answers (when `engine` is given) and Temporal answers with the namespace
    described (when `temporal`), for at most `deadline_seconds` (INTAKE_WAIT_TIMEOUT) in all.

    Returns the connected Temporal client, for the caller to use. Raises DependencyUnavailableError
    at the deadline; a configuration error (a missing setting, an unreadable certificate) is raised at
    once, since waiting cannot mend it.
    """
    say = say or log.info
    started = time.monotonic()
    deadline = started + (settings.wait_timeout if deadline_seconds is None else deadline_seconds)
    if engine is not None:
        where = f"PostgreSQL at {redact_url(settings.require_database_url())}"
        await _until(where, lambda: _database(engine), deadline, say)
    client: Client | None = None
    if temporal:
        where = f"Temporal at {settings.require_temporal_address()} (namespace {settings.temporal_namespace})"

        async def answers() -> str | None:
            nonlocal client
            try:
                if client is None:
                    client = await connect(settings)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=settings.temporal_namespace)
                )
                return None
            except RuntimeError as err:  # the SDK's "Failed client connect: ..."
                return str(err)
            except Exception as err:  # an RPC error: unavailable, namespace not found (yet)
                return f"{type(err).__name__}: {err}"

        await _until(where, answers, deadline, say)
    return Ready(client=client, waited=time.monotonic() - started)


async def _database(engine: AsyncEngine) -> str | None:
    try:
        return None if await database_answers(engine) else "no connection"
    except Exception as err:  # the database answered, with a refusal (a wrong password, no such database)
        return f"{type(err).__name__}: {err}"


async def _until(
    where: str, attempt: Callable[[], Awaitable[str | None]], deadline: float, say: Callable[[str], None]
) -> None:
    """Call `attempt` (None: it answered, else why not) until it answers or the deadline passes."""
    interval = RETRY_INTERVAL
    waiting_since: float | None = None
    while True:
        problem = await attempt()
        if problem is None:
            if waiting_since is not None:
                say(f"{where} answers, after {time.monotonic() - waiting_since:.1f}s")
            return
        remaining = deadline - time.monotonic()
        if waiting_since is None:
            waiting_since = time.monotonic()
            say(f"waiting for {where}: {_one_line(problem)} (up to {max(remaining, 0):.0f}s more)")
        if remaining <= 0:
            raise DependencyUnavailableError(
                f"{where} did not answer within {time.monotonic() - waiting_since:.0f}s: {_one_line(problem)}"
            )
        await asyncio.sleep(min(interval, max(remaining, 0.01)))
        interval = min(interval * 2, RETRY_INTERVAL_CAP)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
