"""Run the API app under uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from core.settings import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's graceful shutdown: open requests finish)."""
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        log_level="info",
        # With INTAKE_LOG_FORMAT=json uvicorn's loggers go to ours (JSON, secrets masked), not its own.
        **({"log_config": None} if settings.log_format == "json" else {}),
        # The app answers its own errors; keep uvicorn's access log (one line per request, no bodies).
        proxy_headers=True,
        server_header=False,
    )
