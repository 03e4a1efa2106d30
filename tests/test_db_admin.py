"""`intake db`: migrate/check keep models and migrations in step; reset/nuke refuse production."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.errors import UnsafeOperationError
from db import admin
from db.repositories.health import HealthCheckRepository
from db.uow import unit_of_work


def test_models_and_migrations_agree(database_url: str) -> None:
    """`alembic check`: no model change lacks its migration."""
    admin.check(database_url)


@pytest.mark.parametrize(
    "env, url, reason",
    [
        ("production", "postgresql://u@localhost/intake", "INTAKE_ENV"),
        ("PRODUCTION", "postgresql://u@localhost/intake", "INTAKE_ENV"),
        ("development", "postgresql://u:secret@db.prod.internal/intake", "'prod'"),
        ("development", "postgresql://u:secret@db.example.com/intake", "'.com'"),
        ("development", "postgresql://u:secret@x.abc.eu-west-1.rds.amazonaws.net/i", "'rds.amazonaws'"),
    ],
)
def test_destructive_commands_refuse_production(env: str, url: str, reason: str) -> None:
    with pytest.raises(UnsafeOperationError, match=reason) as caught:
        admin.refuse_if_production(url, env, "nuke the database")
    assert "secret" not in str(caught.value)


def test_destructive_commands_allow_local_databases() -> None:
    admin.refuse_if_production("postgresql://postgres@127.0.0.1:5432/intake", "development", "reset")


def intake(*args: str, env: dict[str, str], answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        input=answer,
        timeout=120,
    )


async def test_cli_reset_asks_first_and_a_no_keeps_every_row(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(sessions) as session:
        await HealthCheckRepository().create(
            session=session, check_id="keep", message="m", database_version="18", workflow_id="wf"
        )
    env = {"DATABASE_URL": database_url}
    declined = await asyncio.to_thread(intake, "db", "reset", env=env, answer="n\n")
    assert declined.returncode == 1 and "Delete every row of every table in" in declined.stdout
    async with sessions() as session:
        assert await HealthCheckRepository().count(session=session) == 1
    confirmed = await asyncio.to_thread(intake, "db", "reset", env=env, answer="y\n")
    assert confirmed.returncode == 0 and "tables emptied" in confirmed.stdout
    async with sessions() as session:
        assert await HealthCheckRepository().count(session=session) == 0


async def test_cli_nuke_and_reset_refuse_in_production(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as session:
        await HealthCheckRepository().create(
            session=session, check_id="keep", message="m", database_version="18", workflow_id="wf"
        )
    for command in (["db", "nuke", "--yes"], ["db", "reset", "--yes"]):
        done = await asyncio.to_thread(intake, *command, env={"DATABASE_URL": database_url, "INTAKE_ENV": "production"})
        assert done.returncode != 0
        assert "refusing to" in done.stderr and "INTAKE_ENV" in done.stderr
    async with sessions() as session:
        assert await HealthCheckRepository().count(session=session) == 1


async def test_reset_empties_tables_and_keeps_the_schema(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    assert await admin.seed(engine) == 3  # two source configs and a health row
    assert await admin.seed(engine) == 0  # seed is idempotent
    tables = await admin.reset(engine)
    assert "health_checks" in tables and "idempotency_keys" in tables
    async with sessions() as session:
        assert await HealthCheckRepository().count(session=session) == 0
        assert await session.scalar(text("SELECT version_num FROM alembic_version")) is not None


async def test_nuke_drops_everything_and_migrate_rebuilds(database_url: str, engine: AsyncEngine) -> None:
    await admin.nuke(engine)
    async with engine.connect() as conn:
        tables = await conn.scalar(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"))
    assert tables == 0
    await admin.migrate_async(database_url)
    await asyncio.to_thread(admin.check, database_url)
    assert await admin.seed(engine) == 3


async def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    config = admin.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(admin.check, database_url)
