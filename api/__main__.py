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
    serve(Settings(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
