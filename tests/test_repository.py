"""The generic repository: CRUD, filters, and soft delete where the table has `deleted_at`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import BigInteger, Identity, Text, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.base import SoftDeleteMixin, TimestampMixin
from db.repositories.health import HealthCheckRepository
from db.repository import Repository
from db.uow import unit_of_work


class ScratchBase(DeclarativeBase):
    """Tables that exist only for these tests (created and dropped here, not migrated)."""


class Note(SoftDeleteMixin, TimestampMixin, ScratchBase):
    __tablename__ = "test_notes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    team_id: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


notes = Repository(Note)


@pytest.fixture
async def note_table(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(ScratchBase.metadata.create_all)
    yield
    async with engine.begin() as conn:
        await conn.run_sync(ScratchBase.metadata.drop_all)


async def make_notes(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with unit_of_work(sessions) as session:
        made = [
            await notes.create(session=session, team_id=team, body=body)
            for team, body in [("t1", "a"), ("t1", "b"), ("t2", "c")]
        ]
        return [note.id for note in made]


async def test_crud_with_keyword_and_expression_filters(
    sessions: async_sessionmaker[AsyncSession], note_table: None
) -> None:
    a, b, c = await make_notes(sessions)
    async with unit_of_work(sessions) as session:
        found = await notes.find_by_id(b, session=session)
        assert found is not None and found.body == "b"
        found = await notes.find_one(session=session, team_id="t2")
        assert found is not None and found.id == c
        assert [n.id for n in await notes.find_many(session=session, team_id="t1")] == [a, b]
        assert [
            n.body for n in await notes.find_many(Note.body > "a", session=session, order_by=Note.body.desc(), limit=1)
        ] == ["c"]
        assert await notes.count(session=session, team_id="t1") == 2
        updated = await notes.update(values={"body": "x"}, session=session, team_id="t1")
        assert sorted(n.id for n in updated) == [a, b]
        found = await notes.update_by_id(c, session=session, body="y")
        assert found is not None and found.body == "y"
        assert await notes.update_by_id(999, session=session, body="z") is None
    with pytest.raises(AttributeError, match="no column 'colour'"):
        async with sessions() as session:
            await notes.count(session=session, colour="red")


async def test_soft_delete_hides_rows_from_reads_and_counts(
    sessions: async_sessionmaker[AsyncSession], note_table: None, engine: AsyncEngine
) -> None:
    a, b, c = await make_notes(sessions)
    async with unit_of_work(sessions) as session:
        assert await notes.delete_by_id(a, session=session) is True
        assert await notes.delete(session=session, team_id="t2") == [c]

    async with unit_of_work(sessions) as session:
        assert await notes.find_by_id(a, session=session) is None
        assert [n.id for n in await notes.find_many(session=session)] == [b]
        assert await notes.count(session=session) == 1
        assert await notes.find_one(session=session, team_id="t2") is None
        # Deleted rows are neither updated nor deleted again.
        assert await notes.update_by_id(a, session=session, body="ghost") is None
        assert await notes.delete_by_id(a, session=session) is False
        # ... but they are still there, stamped, for whoever asks for them.
        kept = await notes.find_by_id(a, session=session, include_deleted=True)
        assert kept is not None and kept.deleted_at is not None and kept.body == "a"
        assert await notes.count(session=session, include_deleted=True) == 3

    async with engine.connect() as conn:
        assert (await conn.scalar(text("SELECT count(*) FROM test_notes"))) == 3


async def test_tables_without_deleted_at_are_deleted_for_real(sessions: async_sessionmaker[AsyncSession]) -> None:
    checks = HealthCheckRepository()
    assert checks.soft_delete is False
    async with unit_of_work(sessions) as session:
        row = await checks.create(session=session, check_id="x", message="m", database_version="18", workflow_id="wf")
    async with unit_of_work(sessions) as session:
        assert await checks.delete_by_id(row.id, session=session) is True
        assert await checks.count(session=session, include_deleted=True) == 0
