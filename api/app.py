"""The API's FastAPI app: `create_app(settings)`.

The lifespan builds what every request shares, once per process: the database engine
(and its sessions) and a Temporal client, both closed at shutdown. The client connects
lazily, so the API starts, and `/readyz` says so, while Temporal is still coming up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.deps import Services
from api.limits import BodyLimit
from api.routes import admin, health
from api.ui import install as install_dashboard
from core.settings import Settings
from core.temporal import connect
from db.engine import create_sessionmaker, engine_from_settings

DESCRIPTION = """\
intake's HTTP front door: the Slack, Figma and Notion webhooks, the team-scoped
admin API (a bearer token per team: `intake api token create --team T`), and
liveness/readiness. Every error is a problem details object (RFC 9457).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = engine_from_settings(settings)
        try:
            temporal = await connect(settings, lazy=True)
            app.state.services = Services(
                settings=settings, engine=engine, sessions=create_sessionmaker(engine), temporal=temporal
            )
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="intake", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.include_router(health.router)
    app.include_router(admin.router)
    install_dashboard(app, settings)
    return app
