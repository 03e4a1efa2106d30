"""db/compiled.py: a Core statement compiled once and run on the driver's cursor, against real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.compiled import CompiledStatement
from db.engine import create_engine

# A table of these tests only (created and dropped here, not migrated).
probes = Table(
    "test_compiled_probes",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("payload", JSONB),
    Column("at", DateTime(timezone=True)),
    Column("label", Text),
)

# `label` is a literal: a value the statement binds itself, not one the caller passes.
INSERT = CompiledStatement(
    insert(probes)
    .values(
        id=bindparam("id", type_=Uuid),
        name=bindparam("name", type_=Text),
        payload=bindparam("payload", type_=JSONB),
        at=bindparam("at", type_=DateTime(timezone=True)),
        label=literal("inserted", Text),
    )
    .returning(probes.c.id, probes.c.name, probes.c.payload, probes.c.at, probes.c.label)
)
# A literal in the WHERE clause too: only rows whose label is still "inserted".
BY_PREFIX = CompiledStatement(
    select(probes.c.name, probes.c.id)
    .where(probes.c.name.startswith(bindparam("prefix", type_=Text)), probes.c.label == literal("inserted", Text))
    .order_by(probes.c.name)
)
RELABEL = CompiledStatement(
    update(probes).where(probes.c.name == bindparam("name", type_=Text)).values(label=bindparam("label", type_=Text))
)
PAYLOAD_AS_STORED = CompiledStatement(
    select(func.jsonb_typeof(probes.c.payload), probes.c.payload.is_(None), probes.c.payload.cast(Text)).where(
        probes.c.id == bindparam("id", type_=Uuid)
    )
)
BACKEND_PID = CompiledStatement(select(func.pg_backend_pid()))


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(probes.metadata.create_all)
    yield
    async with engine.begin() as conn:
        await conn.run_sync(probes.metadata.drop_all)


def probe(name: str, **values: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "name": name, "payload": {"n": 1}, "at": datetime.now(UTC)} | values


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(probes)) or 0)


async def test_values_go_through_the_types_bind_processors_and_come_back_as_stored(
    engine: AsyncEngine, table: None
) -> None:
    # A tz-aware datetime in another zone is the same instant; a UUID object; JSON as
    # SQLAlchemy serializes it (nested, non-ASCII, a JSON null inside).
    at = datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=5)))
    values = probe("a", payload={"list": [1, "zwei", None], "text": "héllo ✓", "nested": {"ok": True}}, at=at)
    row = await INSERT.first_alone(engine, values)
    assert tuple(row) == (values["id"], "a", values["payload"], at, "inserted")
    assert row[3] == datetime(2024, 3, 1, 7, 30, tzinfo=UTC) and row[3].utcoffset() is not None
    assert isinstance(row[0], uuid.UUID)


async def test_json_parameters_are_stored_exactly_as_sqlalchemys_own_execute_stores_them(
    engine: AsyncEngine, table: None
) -> None:
    # None for a JSONB parameter is JSON null (SQLAlchemy's JSON type), not SQL NULL: a run that
    # skipped the bind processor would store NULL, or fail on the dict.
    for payload in (None, {"k": [1, 2.5, "x"], "u": "ü"}, ["a", {"b": None}], "plain"):
        ours, theirs = probe(f"ours-{payload!r}", payload=payload), probe(f"sqlalchemy-{payload!r}", payload=payload)
        await INSERT.first_alone(engine, ours)
        async with engine.begin() as conn:
            await conn.execute(insert(probes), [theirs])
        stored = [await PAYLOAD_AS_STORED.first_alone(engine, {"id": v["id"]}) for v in (ours, theirs)]
        assert tuple(stored[0]) == tuple(stored[1]), payload
    assert tuple(await PAYLOAD_AS_STORED.first_alone(engine, {"id": ours["id"]}))[:2] == ("string", False)


async def test_first_and_all_give_rows_in_column_order_or_nothing(engine: AsyncEngine, table: None) -> None:
    made = [probe(name) for name in ("p-2", "p-1", "p-3", "q-1")]
    for values in made:
        await INSERT.first_alone(engine, values)
    ids = {values["name"]: values["id"] for values in made}
    expected = [("p-1", ids["p-1"]), ("p-2", ids["p-2"]), ("p-3", ids["p-3"])]

    assert [tuple(row) for row in await BY_PREFIX.all_alone(engine, {"prefix": "p-"})] == expected
    assert tuple(await BY_PREFIX.first_alone(engine, {"prefix": "p-"})) == expected[0]
    name, id_ = await BY_PREFIX.first_alone(engine, {"prefix": "q-"})
    assert (name, id_) == ("q-1", ids["q-1"])
    assert await BY_PREFIX.first_alone(engine, {"prefix": "none-"}) is None
    assert list(await BY_PREFIX.all_alone(engine, {"prefix": "none-"})) == []

    # A statement without rows (an UPDATE without RETURNING) answers None / nothing; the
    # literal in BY_PREFIX's WHERE now leaves the relabelled row out.
    assert await RELABEL.first_alone(engine, {"name": "p-2", "label": "changed"}) is None
    assert list(await RELABEL.all_alone(engine, {"name": "p-3", "label": "changed"})) == []
    assert [tuple(row) for row in await BY_PREFIX.all_alone(engine, {"prefix": "p-"})] == expected[:1]

    # The same, inside a connection the caller holds.
    async with engine.connect() as conn:
        assert tuple(await conn.run_sync(BY_PREFIX.first, {"prefix": "p-"})) == expected[0]
        assert [tuple(r) for r in await conn.run_sync(BY_PREFIX.all, {"prefix": "q-"})] == [("q-1", ids["q-1"])]


async def test_inside_a_transaction_the_caller_commits_or_rolls_back(engine: AsyncEngine, table: None) -> None:
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.run_sync(INSERT.first, probe("rolled-back"))
        await conn.run_sync(RELABEL.first, {"name": "rolled-back", "label": "seen"})
        # Seen inside the transaction, not outside it.
        assert await conn.scalar(select(probes.c.label).where(probes.c.name == "rolled-back")) == "seen"
        assert await count(engine) == 0
        await tx.rollback()
    assert await count(engine) == 0

    async with engine.connect() as conn:
        async with conn.begin():
            await conn.run_sync(INSERT.first, probe("committed"))
            assert await count(engine) == 0  # not yet committed
    assert await count(engine) == 1


async def test_a_statement_alone_commits_by_itself_and_leaves_the_pool_as_it_found_it(
    database_url: str, table: None
) -> None:
    engine = create_engine(database_url, pool_size=1)  # one connection: each call gets the same one
    try:
        await INSERT.first_alone(engine, probe("alone"))
        # Committed at once: another connection (of the test's engine) sees it...
        other = create_engine(database_url, pool_size=1)
        try:
            assert await count(other) == 1
        finally:
            await other.dispose()
        # ...and a failing statement after it undoes nothing (no transaction around them).
        with pytest.raises(IntegrityError):
            await INSERT.first_alone(engine, probe("alone"))
        assert await count(engine) == 1
        # The pooled connection is back to transactions: a rolled-back write stays undone.
        async with engine.connect() as conn:
            await conn.run_sync(INSERT.first, probe("undone"))
            await conn.rollback()
        assert await count(engine) == 1
    finally:
        await engine.dispose()


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(engine: AsyncEngine, table: None) -> None:
    await INSERT.first_alone(engine, probe("taken"))
    with pytest.raises(IntegrityError) as raised:
        await INSERT.first_alone(engine, probe("taken"))
    error = raised.value
    assert isinstance(error, DBAPIError) and not error.connection_invalidated
    assert "unique constraint" in str(error.orig)
    assert error.statement is not None and error.statement.startswith("INSERT INTO test_compiled_probes")

    # In a transaction the caller holds: the transaction is aborted, rolled back, and the
    # connection goes on.
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.run_sync(INSERT.first, probe("kept-out"))
        with pytest.raises(IntegrityError):
            await conn.run_sync(INSERT.first, probe("taken"))
        await tx.rollback()
        name, _ = await conn.run_sync(BY_PREFIX.first, {"prefix": "taken"})
        assert name == "taken"
    assert await count(engine) == 1


@pytest.mark.parametrize("where", ["alone", "in a transaction"])
async def test_a_lost_connection_is_invalidated_and_the_next_statement_gets_a_fresh_one(
    database_url: str, engine: AsyncEngine, where: str
) -> None:
    pool = create_engine(database_url, pool_size=1)  # one connection: the next call gets the killed one

    async def backend_pid() -> int:
        if where == "alone":
            return (await BACKEND_PID.first_alone(pool, {}))[0]
        async with pool.connect() as conn, conn.begin():
            return (await conn.run_sync(BACKEND_PID.first, {}))[0]

    try:
        killed = await backend_pid()
        assert await backend_pid() == killed  # pooled: the same backend again
        async with engine.connect() as other:
            assert await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        with pytest.raises(DBAPIError) as raised:
            await backend_pid()
        assert raised.value.connection_invalidated
        fresh = await backend_pid()
        assert fresh != killed
        assert await backend_pid() == fresh
    finally:
        await pool.dispose()
