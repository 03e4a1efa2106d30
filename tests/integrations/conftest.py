"""The sandbox, started in-process once per session and reset before every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer

# Short enough that "the answer never comes" tests finish quickly.
CALL_TIMEOUT = 2.0


@pytest.fixture(scope="session")
async def sandbox_server() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(seed=0)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def control(sandbox_server: SandboxServer) -> AsyncIterator[SandboxControl]:
    assert sandbox_server.url is not None
    async with SandboxControl(sandbox_server.url) as ctl:
        yield ctl


@pytest.fixture(autouse=True)
async def fresh_sandbox(control: SandboxControl) -> None:
    await control.reset(seed=0)


@pytest.fixture
def sandbox_settings(sandbox_server: SandboxServer) -> Settings:
    """Settings whose outside services all resolve to the sandbox."""
    return Settings(SANDBOX_URL=sandbox_server.url, OUTSIDE_CALL_TIMEOUT=CALL_TIMEOUT)


@pytest.fixture
async def fixtures(control: SandboxControl) -> dict:
    return await control.fixtures()
