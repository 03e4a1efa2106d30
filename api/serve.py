"""Run the API app under uvicorn."""

from __future__ import annotations

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from api.app import create_app
from core.settings import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's graceful shutdown: open requests finish)."""
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        log_level="info",
        # uvicorn's own log format (one access line per request, no bodies); with
        # INTAKE_LOG_FORMAT=json its loggers go to ours instead (JSON, secrets masked).
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
        proxy_headers=True,
        server_header=False,
    )
