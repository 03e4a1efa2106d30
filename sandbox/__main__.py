"""``python -m sandbox --host 127.0.0.1 --port 0 [--seed N]``: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from sandbox.server import SandboxServer


async def serve(host: str, port: int, seed: int) -> None:
    server = SandboxServer(seed=seed)
    url = await server.start(host, port)
    print(f"sandbox listening on {url}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the seed data and fault randomness (default 0)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.seed))


if __name__ == "__main__":
    main()
