"""The web dashboard (/ui/): pages for approvers and team admins, on the API's app and team tokens."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.ui.routes import router
from api.ui.session import Sessions
from core.settings import Settings

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from `app`: its static files, its pages, its session cookie's signer."""
    app.state.ui_sessions = Sessions(settings)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(router)
