"""The API's FastAPI app: `create_app(settings)`.

The lifespan builds what every request shares, once per process: the database engine
(and its sessions) and a Temporal client, both closed at shutdown. The client connects
lazily, so the API starts, and `/readyz` says so, while Temporal is still coming up.
It also runs the webhook inbox's starter (client/webhook_inbox.py), which starts the
workflows of the events the webhook routes acknowledged.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from api import docs, problems
from api.deps import Services
from api.limits import BodyLimit
from api.routes import admin, health, webhooks
from api.ui import install as install_dashboard
from client.mirror_feed import recent_lag_p99
from client.webhook_inbox import InboxStarter, InboxWriter, inbox_summary
from core.settings import Settings
from core.temporal import connect
from db.engine import create_sessionmaker, engine_from_settings
from telemetry.api import instrument_api

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
            sessions = create_sessionmaker(engine)
            services = Services(settings=settings, engine=engine, sessions=sessions, temporal=temporal)
            app.state.services = services
            # The webhook inbox: the routes write it, this process's starter drains it into Temporal.
            inbox = InboxWriter(sessions, on_new=lambda: starter.wake())  # each commit wakes the starter
            starter = InboxStarter(
                sessions,
                temporal,
                task_queue=settings.task_queue,
                concurrency=settings.webhook_start_concurrency,
                retention=timedelta(days=settings.webhook_inbox_retention_days),
                quiet_for=inbox.quiet_for,
            )
            app.state.webhooks = webhooks.build_webhooks(services, inbox)
            # Read at each scrape: the export queue's depth, the mirror's lag, the inbox.
            app.state.metrics.sessions = sessions
            app.state.metrics.mirror_lag_source = lambda: recent_lag_p99(sessions)
            app.state.metrics.inbox_source = lambda: inbox_summary(sessions)
            starting = asyncio.create_task(starter.run(), name="webhook-inbox-starter")
            # What start-up made lives as long as the process: out of the collector's way, so a
            # full collection scans only what requests made, not the whole heap again (it paused
            # a burst of webhook requests for 0.2 s).
            gc.freeze()
            try:
                yield
            finally:
                await inbox.close()
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
        finally:
            await engine.dispose()

    # /docs is served with Swagger UI's files from a package (api/docs.py), not from a CDN; no ReDoc page.
    app = FastAPI(
        title="intake", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    docs.install(app)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    # Traces of every request when OTLP is configured; request, webhook and export-queue metrics at /metrics.
    instrument_api(app, settings)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)
    install_dashboard(app, settings)
    return app
