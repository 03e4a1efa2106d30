"""The discussion pipeline's tables and repositories, before any workflow uses them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.discussions import discussion_id_for
from core.errors import ConflictError
from db.base import SYSTEM_USER_ID
from db.models.discussions import Job
from db.repositories.discussions import DiscussionRepository, JobRepository, SourceConfigRepository, TaskRepository
from db.stores.discussions import DiscussionStore
from db.uow import unit_of_work

configs, discussions, jobs, tasks = (
    SourceConfigRepository(),
    DiscussionRepository(),
    JobRepository(),
    TaskRepository(),
)


T = TypeVar("T")


async def make_job(session: AsyncSession, run: str, **values: Any) -> Job:
    return await jobs.create(
        session=session, team_id="t1", source_type="slack", workflow_id="wf", workflow_run_id=run, **values
    )


async def test_one_live_config_per_team_and_source(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        assert await configs.ensure(
            session=session, team_id="t1", source_type="slack", name="Slack", notion_database_id="db1"
        )
        assert not await configs.ensure(
            session=session, team_id="t1", source_type="slack", name="again", notion_database_id="db2"
        )
        config = await configs.find_enabled("t1", "slack", session=session)
        assert config is not None and config.notion_database_id == "db1"
        assert config.created_by == SYSTEM_USER_ID
        # A soft-deleted config frees the slot for a new one.
        await configs.delete_by_id(config.id, session=session)
        assert await configs.find_enabled("t1", "slack", session=session) is None
        assert await configs.ensure(
            session=session, team_id="t1", source_type="slack", name="Slack v2", notion_database_id="db3"
        )


async def slack_config(sessions: async_sessionmaker[AsyncSession], team: str = "t1") -> None:
    async with unit_of_work(sessions) as session:
        await configs.ensure(session=session, team_id=team, source_type="slack", name="S", notion_database_id="db")


def found(value: T | None) -> T:
    """The row a test expects to be there."""
    assert value is not None
    return value


def opening(run: str, *, job_id: uuid.UUID | None = None, valid: bool = True, team: str = "t1") -> dict:
    return {
        "job_id": job_id or uuid.uuid4(),
        "valid": valid,
        "team_id": team,
        "source_type": "slack",
        "source_thread_id": "C1:1.0",
        "discussion_id": discussion_id_for(team, "slack", "C1:1.0"),
        "workflow_id": "wf",
        "workflow_run_id": run,
        "job_metadata": {"a": 1},
        "title": "t",
        "content": "c",
    }


async def test_a_thread_has_one_discussion_that_each_job_takes_over(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = DiscussionStore(engine)
    await slack_config(sessions)
    first = await store.open(**opening("r1"))
    assert first.discussion_id is not None and first.source_config_id is not None
    async with sessions() as session:
        await discussions.update_by_id(first.discussion_id, session=session, status="failed", error="boom")
        await session.commit()
    second = await store.open(**opening("r2"))
    assert second.discussion_id == first.discussion_id and second.job_id != first.job_id
    async with sessions() as session:
        discussion = found(await discussions.find_by_id(first.discussion_id, session=session))
        job = found(await jobs.find_by_id(second.job_id, session=session))
        assert (discussion.status, discussion.sync_job_id, discussion.error) == ("processing", job.id, None)
        assert (job.discussion_id, job.source_config_id) == (discussion.id, discussion.source_config_id)
        assert (job.status, job.stage, job.created_by) == ("processing", "ingestion", SYSTEM_USER_ID)
        assert await discussions.count(session=session) == 1
        assert await discussions.for_team("other-team", first.discussion_id, session=session) is None


async def test_without_a_config_or_with_bad_input_only_the_job_is_written(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The job records the failure; no discussion is saved for a team without a config or for bad input."""
    store = DiscussionStore(engine)
    no_config = await store.open(**opening("r1", team="no-config"))
    await slack_config(sessions)
    invalid = await store.open(**opening("r2", valid=False))
    assert (no_config.discussion_id, invalid.discussion_id) == (None, None)
    async with sessions() as session:
        assert await jobs.count(session=session) == 2
        assert await discussions.count(session=session) == 0


async def test_task_records_are_one_per_discussion_index(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    store = DiscussionStore(engine)
    async with unit_of_work(sessions) as session:
        job = await make_job(session, "r1")
        disc = await discussions.create(
            session=session, team_id="t1", source_type="slack", source_thread_id="C1:2.0", title="t", content="c"
        )
    task = {"notion_page_url": None, "description": None, "priority": "high", "assignee": None}
    common: dict[str, Any] = {"team_id": "t1", "job_id": job.id, "summary": "s", "source_url": None}
    first = await store.save_tasks(
        disc.id,
        **common,
        tasks=[
            task | {"task_index": 1, "notion_page_id": "p1", "title": "second"},
            task | {"task_index": 0, "notion_page_id": "p0", "title": "first"},
        ],
    )
    again = await store.save_tasks(
        disc.id,
        **common,
        tasks=[
            task | {"task_index": 0, "notion_page_id": "p0", "title": "renamed"},
        ],
    )
    assert [t.task_index for t in first] == [0, 1]
    assert again[0].id == first[0].id and again[0].title == "renamed"
    async with sessions() as session:
        records = await tasks.for_discussion(disc.id, session=session)
        assert [(t.title, t.is_multi_task_child, t.status) for t in records] == [
            ("renamed", False, "open"),
            ("second", True, "open"),
        ]
        # The discussion lists the records the last save made.
        assert found(await discussions.find_by_id(disc.id, session=session)).notion_task_ids == [str(again[0].id)]
    with pytest.raises(ConflictError, match="notion_page_id"):
        async with unit_of_work(sessions) as session:
            await tasks.create(
                session=session,
                discussion_id=disc.id,
                task_index=2,
                team_id="t1",
                notion_page_id="p0",
                title="same page twice",
            )


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


async def test_a_run_opens_one_job_however_often_it_asks(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    store = DiscussionStore(engine)
    job_id = uuid.uuid4()
    first = await store.open(**opening("run-1", job_id=job_id))
    again = await store.open(**opening("run-1", job_id=job_id))
    other = await store.open(**opening("run-2"))
    assert first.job_id == again.job_id == job_id != other.job_id
    async with sessions() as session:
        assert await jobs.count(session=session) == 2
        assert found(await jobs.find_by_id(job_id, session=session)).job_metadata == {"a": 1}


async def test_finishing_is_guarded_by_state_and_repeats_change_nothing(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = DiscussionStore(engine)
    await slack_config(sessions)
    opened = await store.open(**opening("r1"))
    assert opened.discussion_id is not None
    first = await store.complete(opened.discussion_id, job_id=opened.job_id, task_ids=["a", "b"])
    # A repeated completion (an activity retried after its commit) and a late failure change nothing.
    assert await store.complete(opened.discussion_id, job_id=opened.job_id, task_ids=["c"]) == first
    late = await store.fail(
        opened.job_id, discussion_id=opened.discussion_id, stage="notification", error="late", error_stack=""
    )
    assert late.source is None
    async with sessions() as session:
        job = found(await jobs.find_by_id(opened.job_id, session=session))
        discussion = found(await discussions.find_by_id(opened.discussion_id, session=session))
    assert (job.status, job.error, job.job_metadata["taskIds"]) == ("completed", None, ["a", "b"])
    assert job.job_metadata["processingTime"] == first >= 0 and job.job_metadata["a"] == 1
    assert (discussion.status, discussion.notion_task_ids) == ("completed", ["a", "b"])

    # A job that never took the discussion over fails alone.
    stranger = await store.open(**opening("r2", team="no-config"))
    failed = await store.fail(
        stranger.job_id, discussion_id=opened.discussion_id, stage="ingestion", error="no config", error_stack=""
    )
    assert failed.source is None
    async with sessions() as session:
        assert found(await jobs.find_by_id(stranger.job_id, session=session)).status == "failed"
        assert found(await discussions.find_by_id(opened.discussion_id, session=session)).status == "completed"


async def test_a_later_job_knows_an_earlier_one_had_the_discussion_even_once_it_is_cleaned_up(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Whether outside writes may exist (look before creating) must not depend on old job rows."""
    store = DiscussionStore(engine)
    await slack_config(sessions)
    first = await store.open(**opening("r1"))
    assert first.discussion_id is not None
    assert not found(await store.view(first.discussion_id, job_id=first.job_id, stage="thread_building")).earlier_jobs
    await store.fail(first.job_id, discussion_id=first.discussion_id, stage="task_creation", error="x", error_stack="")
    async with unit_of_work(sessions) as session:
        assert await jobs.delete_finished_before(datetime.now(UTC) + timedelta(days=1), session=session)
    retry = await store.open(**opening("r2"))
    assert retry.discussion_id is not None
    assert found(await store.view(retry.discussion_id, job_id=retry.job_id, stage="thread_building")).earlier_jobs
