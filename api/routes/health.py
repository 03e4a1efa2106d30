"""Liveness and readiness, for a load balancer, compose health checks and `intake up`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import CallerDep, ServicesDep
from api.problems import problem_responses
from db.availability import database_answers

router = APIRouter(tags=["health"])

# How long /readyz waits for each dependency before calling it unreachable.
PROBE_TIMEOUT = 3.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    postgres: str
    temporal: str


class Me(BaseModel):
    team_id: str
    token_id: str


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


async def _answers(probe: Awaitable[object]) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            result = await probe
    except Exception as err:  # any failure of the probe means "not reachable"; say which
        return f"unreachable: {type(err).__name__}: {' '.join(str(err).split())[:200]}".rstrip(": ")
    return "ok" if result is not False else "unreachable"


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="PostgreSQL and Temporal answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    postgres, temporal = await asyncio.gather(
        _answers(database_answers(services.engine)),
        _answers(services.temporal.service_client.check_health()),
    )
    ready = postgres == "ok" and temporal == "ok"
    body = Readiness(status="ready" if ready else "not ready", postgres=postgres, temporal=temporal)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/api/v1/me", response_model=Me, summary="The team the token belongs to", responses=problem_responses(401))
async def me(caller: CallerDep) -> Me:
    return Me(team_id=caller.team_id, token_id=str(caller.token_id))
