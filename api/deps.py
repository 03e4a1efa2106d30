"""What routes depend on: the process's services (built once, in the app's lifespan) and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.problems import ApiProblem
from client.api_tokens import Caller, authenticate
from core.settings import Settings


@dataclass
class Services:
    """One per API process: settings, the database engine and its sessions, the Temporal client."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client


async def get_services(request: Request) -> Services:
    """The app's services (async: FastAPI runs a sync dependency in a worker thread, a hop per request)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="A team's API token: `intake api token create --team T`.")


async def get_caller(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The team a request's bearer token belongs to; 401 without one, or with an unknown or revoked one."""
    challenge = {"WWW-Authenticate": 'Bearer realm="intake"'}
    if credentials is None:
        raise ApiProblem(401, "this route needs a team's API token: Authorization: Bearer <token>", headers=challenge)
    caller = await authenticate(services.sessions, credentials.credentials)
    if caller is None:
        raise ApiProblem(401, "the API token is unknown or revoked", headers=challenge)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
