"""Engine pool behaviour and settings resolution."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from core.errors import ConfigurationError
from core.settings import Settings
from core.state import StackState, write_state
from db.engine import async_url, create_engine, redact_url


async def test_an_idle_connection_is_replaced_after_the_idle_timeout(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, idle_timeout=0.3)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:
            reused = await conn.scalar(text("SELECT pg_backend_pid()"))
        await asyncio.sleep(0.5)
        async with engine.connect() as conn:
            fresh = await conn.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await engine.dispose()
    assert reused == first
    assert fresh != first


async def test_the_pool_never_opens_more_than_pool_size(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=2)
    try:

        async def hold() -> int:
            async with engine.connect() as conn:
                pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                await asyncio.sleep(0.1)
                return pid

        pids = await asyncio.gather(*(hold() for _ in range(6)))
    finally:
        await engine.dispose()
    assert len(set(pids)) == 2


def test_urls_are_redacted_and_normalised() -> None:
    url = "postgresql://app:hunter2@db.internal:5432/intake"
    assert "hunter2" not in redact_url(url)
    assert async_url(url).startswith("postgresql+asyncpg://app:hunter2@")
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        async_url("mysql://u:p@h/db")


def test_settings_defaults_match_the_seed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DB_POOL_SIZE", "DB_POOL_IDLE_TIMEOUT", "DB_CONNECT_TIMEOUT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.db_pool_size, settings.db_pool_idle_timeout, settings.db_connect_timeout) == (10, 20, 10)
    monkeypatch.setenv("DB_POOL_SIZE", "25")
    assert Settings().db_pool_size == 25


def test_settings_fall_back_to_the_running_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "TEMPORAL_ADDRESS", "SANDBOX_URL", "TEMPORAL_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(state_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="intake up"):
        settings.require_database_url()

    write_state(
        tmp_path,
        StackState(
            database_url="postgresql://postgres@127.0.0.1:1/intake",
            temporal_address="127.0.0.1:2",
            temporal_ui_url="http://127.0.0.1:3",
            owner_pid=os.getpid(),
        ),
    )
    settings = Settings(state_dir=tmp_path)
    assert settings.require_database_url() == "postgresql://postgres@127.0.0.1:1/intake"
    assert settings.require_temporal_address() == "127.0.0.1:2"
    assert settings.resolved_temporal_ui_url() == "http://127.0.0.1:3"
    # An explicit setting wins over the stack.
    assert Settings(state_dir=tmp_path, temporal_address="10.0.0.1:7233").require_temporal_address() == "10.0.0.1:7233"


def test_a_state_file_of_a_dead_stack_is_ignored(tmp_path: Path) -> None:
    write_state(
        tmp_path,
        StackState(
            database_url="postgresql://x@127.0.0.1:1/i", temporal_address="127.0.0.1:2", owner_pid=2**22 + 12345
        ),
    )
    with pytest.raises(ConfigurationError):
        Settings(state_dir=tmp_path, database_url=None).require_database_url()
