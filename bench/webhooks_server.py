"""The API as `intake api` serves it, plus one bare route (`POST /bench/bare`, answers 200), for
bench/webhooks.py: both are measured on the same uvicorn, through the same middleware.

    python -m bench.webhooks_server --port P     (settings from the environment)
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from core.settings import Settings


def bench_app() -> FastAPI:
    app = create_app(Settings())

    @app.post("/bench/bare", include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The options api/serve.py gives uvicorn.
    uvicorn.run(
        bench_app(), host="127.0.0.1", port=args.port, log_level="info", proxy_headers=True, server_header=False
    )


if __name__ == "__main__":
    main()
