"""`python -m api [--host H] [--port P]`: serve the API with uvicorn (the embedded stack runs it so)."""

from __future__ import annotations

import argparse

from api.serve import serve
from core.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    settings = Settings()
    if settings.log_format == "json":  # as `intake api` does (the embedded stack runs this module)
        from telemetry.logs import configure_logging

        configure_logging(settings, service="intake-api")
    serve(settings, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
