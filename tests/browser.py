"""The harness of the dashboard's browser tests: the real app under uvicorn, driven by headless Chromium.

- `LiveServer`: `create_app(settings)` served by uvicorn on a free port of 127.0.0.1, in a
  thread with its own event loop (its own engine and Temporal client, as a deployed API has),
  stopped (graceful shutdown, lifespan closed) when the test ends.
- `launch_chromium`: the operating system's Chromium (Debian's `chromium` package, which
  `make test` installs when it is missing) driven by Playwright; Playwright's own browser
  downloads are never used. The flags keep Chromium off the network it cannot reach.
- `shoot`: a full-page screenshot at laptop and phone widths, into INTAKE_SCREENSHOTS when it is
  set (`INTAKE_SCREENSHOTS=docs/screenshots` refreshes the README's), else a temporary folder, so
  a test run leaves the checkout as it was.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, Page, Playwright, ViewportSize

from api.app import create_app
from core.settings import Settings

SCREENSHOTS = Path(os.environ.get("INTAKE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "intake-screenshots")
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--font-render-hinting=none",
]


def chromium_path() -> str:
    """The system Chromium; a clear failure naming the fix when it is absent."""
    found = os.environ.get("INTAKE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "no chromium on PATH: `make test` installs it (apt-get install chromium), or set INTAKE_CHROMIUM"
    return found


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)


class LiveServer:
    """The API app served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="dashboard-uvicorn", daemon=True)
        self.url = ""

    async def __aenter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            await asyncio.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 30)
        assert not self.thread.is_alive(), "uvicorn did not stop within 30 s"


async def shoot(page: Page, name: str) -> None:
    """Screenshots of the page as it is, at laptop and at phone width (docs/screenshots/NAME-*.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    # Relative times ("3 s ago") change from run to run; show them as a reader sees a fresh page.
    await page.evaluate("document.querySelectorAll('time').forEach(t => { t.textContent = 'just now'; })")
    for label, size in (("laptop", LAPTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True, animations="disabled")
    if original:
        await page.set_viewport_size(original)
