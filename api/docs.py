"""The interactive API docs at /docs, served from our own process.

FastAPI's default /docs page loads Swagger UI's script and styles from a CDN, so it stays
blank where the API's users have no internet (an air-gapped deployment, this project's own
machines). Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes) is vendored in
api/static/swagger-ui-<version>/ from npm's swagger-ui-dist, with its Apache-2.0 LICENSE and
NOTICE; it is served at /docs/assets and the page points at them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui-5.35.0"


def install(app: FastAPI) -> None:
    """Serve /docs (Swagger UI on /openapi.json) with local assets; the app must have docs_url=None."""
    app.mount(ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
