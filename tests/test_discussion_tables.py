"""The discussion pipeline's tables and repositories (seed 001), before any workflow uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ConflictError
from db.base import SYSTEM_USER_ID
from db.repositories.discussions import (
    DiscussionRepository,
    JobRepository,
    SourceConfigRepository,
    TaskRepository,
)
from db.uow import unit_of_work

configs, discussions, jobs, tasks = (
    SourceConfigRepository(), DiscussionRepository(), JobRepository(), TaskRepository()
)


async def make_job(session: AsyncSession, run: str, **values) -> object:
    return await jobs.create(session=session, team_id="t1", source_type="slack",
                             workflow_id="wf", workflow_run_id=run, **values)


async def test_one_live_config_per_team_and_source(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        assert await configs.ensure(session=session, team_id="t1", source_type="slack",
                                    name="Slack", notion_database_id="db1")
        assert not await configs.ensure(session=session, team_id="t1", source_type="slack",
                                        name="again", notion_database_id="db2")
        config = await configs.find_enabled("t1", "slack", session=session)
        assert config is not None and config.notion_database_id == "db1"
        assert config.created_by == SYSTEM_USER_ID
        # A soft-deleted config frees the slot for a new one.
        await configs.delete_by_id(config.id, session=session)
        assert await configs.find_enabled("t1", "slack", session=session) is None
        assert await configs.ensure(session=session, team_id="t1", source_type="slack",
                                    name="Slack v2", notion_database_id="db3")


async def test_a_thread_has_one_discussion_that_each_job_takes_over(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as session:
        await configs.ensure(session=session, team_id="t1", source_type="slack", name="S",
                             notion_database_id="db")
        config = await configs.find_enabled("t1", "slack", session=session)
        first_job, second_job = await make_job(session, "r1"), await make_job(session, "r2")
        thread = {"team_id": "t1", "source_type": "slack", "source_thread_id": "C1:1.0",
                  "title": "t", "content": "c"}
        first = await discussions.save_for_job(session=session, job_id=first_job.id,
                                               source_config_id=config.id, **thread)
        await discussions.update_by_id(first.id, session=session, status="failed", error="boom")
        second = await discussions.save_for_job(session=session, job_id=second_job.id,
                                                source_config_id=config.id, **thread)
        assert second.id == first.id
        assert (second.status, second.sync_job_id, second.error) == ("processing", second_job.id, None)
        assert await discussions.count(session=session) == 1
        assert await discussions.for_team("other-team", first.id, session=session) is None


async def test_task_records_are_one_per_discussion_index(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        job = await make_job(session, "r1")
        disc = await discussions.create(session=session, team_id="t1", source_type="slack",
                                        source_thread_id="C1:2.0", title="t", content="c")
        row = {"discussion_id": disc.id, "team_id": "t1", "job_id": job.id}
        first = await tasks.save_all([row | {"task_index": 1, "notion_page_id": "p1", "title": "second"},
                                      row | {"task_index": 0, "notion_page_id": "p0", "title": "first"}],
                                     session=session)
        again = await tasks.save_all([row | {"task_index": 0, "notion_page_id": "p0", "title": "renamed"}],
                                     session=session)
        assert [t.task_index for t in first] == [0, 1]
        assert again[0].id == first[0].id and again[0].title == "renamed"
        assert len(await tasks.for_discussion(disc.id, session=session)) == 2
    with pytest.raises(ConflictError, match="notion_page_id"):
        async with unit_of_work(sessions) as session:
            await tasks.create(session=session, discussion_id=disc.id, task_index=2, team_id="t1",
                               notion_page_id="p0", title="same page twice")


async def test_cleanup_deletes_only_old_finished_jobs(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    async with unit_of_work(sessions) as session:
        old_done = await make_job(session, "a", status="completed", completed_at=old)
        old_failed = await make_job(session, "b", status="failed", completed_at=old)
        await make_job(session, "c", status="completed", completed_at=recent)
        await make_job(session, "d", status="processing")
        await make_job(session, "e", status="pending")
    async with unit_of_work(sessions) as session:
        deleted = await jobs.delete_finished_before(now - timedelta(days=30), session=session)
    assert sorted(deleted) == sorted([old_done.id, old_failed.id])
    async with sessions() as session:
        assert sorted(j.workflow_run_id for j in await jobs.listing(session=session)) == ["c", "d", "e"]


async def test_a_run_opens_one_job_however_often_it_asks(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        values = {"team_id": "t1", "source_type": "slack", "workflow_id": "wf", "job_metadata": {"a": 1}}
        first = await jobs.open_for_run(session=session, workflow_run_id="run-1", **values)
        again = await jobs.open_for_run(session=session, workflow_run_id="run-1", **values)
        other = await jobs.open_for_run(session=session, workflow_run_id="run-2", **values)
        assert first == again != other
        assert await jobs.count(session=session) == 2
        assert (await jobs.find_by_id(first, session=session)).job_metadata == {"a": 1}
