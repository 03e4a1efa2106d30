"""DiscussionWorkflow end to end: real Temporal, real PostgreSQL, the official SDKs against the sandbox."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from client.discussions import start_discussion
from db import admin
from db.repositories.discussions import (
    DiscussionRepository,
    JobRepository,
    SourceConfigRepository,
    TaskRepository,
)
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from tests.helpers import record_history
from workflows.discussion import DiscussionInput

CHECKOUT = "C0PRODUCT:1718010000.000100"  # the sandbox's thread with four action items
discussions, jobs, tasks = DiscussionRepository(), JobRepository(), TaskRepository()


@pytest.fixture
async def team(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A team of its own per test (workflow ids derive from the team), set up as the demo's is."""
    team_id = f"team-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(sessions) as session:
        for source_type in ("slack", "figma"):
            await SourceConfigRepository().ensure(
                session=session, team_id=team_id, source_type=source_type, name=source_type,
                notion_database_id=admin.DEMO_NOTION_DATABASE_ID,
            )
    return team_id


def slack_thread(team: str, thread: str = CHECKOUT) -> DiscussionInput:
    return DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread)


async def test_a_slack_thread_becomes_notion_tasks_through_six_stages(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl, team: str,
) -> None:
    async with make_worker():
        handle = await start_discussion(client, slack_thread(team), task_queue=task_queue)
        result = await handle.result()

    async with sessions() as session:
        discussion = await discussions.find_by_id(uuid.UUID(result.discussion_id), session=session)
        job = await jobs.find_by_id(uuid.UUID(result.job_id), session=session)
        records = await tasks.for_discussion(discussion.id, session=session)

    # The rows are linked as the seed says.
    assert discussion.status == "completed" and discussion.completed_at is not None
    assert discussion.sync_job_id == job.id and job.discussion_id == discussion.id
    assert job.source_config_id == discussion.source_config_id is not None
    assert (job.status, job.stage, job.error) == ("completed", "notification", None)
    assert job.completed_at is not None
    assert job.job_metadata["processingTime"] == result.processing_ms
    assert job.job_metadata["taskIds"] == result.task_ids == discussion.notion_task_ids
    assert discussion.created_by == job.created_by == "system"
    assert discussion.thread_data["messages"][0]["text"].startswith("Customers in the EU")
    assert discussion.ai_summary and discussion.ai_action_items
    # One Notion page and one task record per detected task.
    pages = await sandbox.created("notion", "pages")
    assert len(records) == len(pages) == len(discussion.ai_analysis["tasks"]) > 1
    assert {r.notion_page_id for r in records} == {p["id"] for p in pages}
    assert all(r.is_multi_task_child for r in records)
    assert [r.task_index for r in records] == list(range(len(records)))
    # One reply in the thread, and the status reactions.
    replies = await sandbox.created("slack", "messages")
    assert len(replies) == 1 and replies[0]["thread_ts"] == "1718010000.000100"
    reactions = [r["name"] for r in await sandbox.created("slack", "reactions")]
    assert reactions == ["eyes", "hourglass_flowing_sand", "white_check_mark"]
    assert await sandbox.call_count("slack", "reactions.remove") == 1  # the hourglass, when done
    await record_history(handle, "discussion_slack")


async def run_to_failure(client: Client, task_queue: str, payload: DiscussionInput) -> str:
    handle = await start_discussion(client, payload, task_queue=task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    return str(failed.value.cause)


async def only_job(sessions: async_sessionmaker[AsyncSession]):
    async with sessions() as session:
        rows = await jobs.find_many(session=session)
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("thread, configured, reason", [
    ("not-a-thread", True, "is not valid: expected <channel>:<thread ts>"),
    (CHECKOUT, False, "has no enabled slack source config"),
])
async def test_bad_input_fails_at_ingestion_with_a_clear_reason_and_no_discussion(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl, team: str, thread: str, configured: bool, reason: str,
) -> None:
    payload = slack_thread(team if configured else f"unknown-{team}", thread)
    async with make_worker():
        message = await run_to_failure(client, task_queue, payload)
    assert "stage ingestion" in message and reason in message
    job = await only_job(sessions)
    assert (job.status, job.stage) == ("failed", "ingestion")
    assert reason in job.error and job.error_stack and job.completed_at is not None
    async with sessions() as session:
        assert await discussions.count(session=session) == 0
    assert await sandbox.created("notion", "pages") == []


@pytest.mark.parametrize("stage, fault", [
    ("thread_building", {"thread": "C0PRODUCT:1999999999.000100"}),
    ("ai_analysis", {"revoke": ("llm", "sk-sandbox")}),
    ("task_creation", {"revoke": ("notion", "secret_sandbox")}),
])
async def test_a_failure_at_a_stage_marks_job_and_discussion_failed_there(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl, team: str, stage: str, fault: dict,
) -> None:
    if "revoke" in fault:
        await sandbox.revoke_token(*fault["revoke"])
    async with make_worker():
        message = await run_to_failure(client, task_queue, slack_thread(team, fault.get("thread", CHECKOUT)))

    assert f"stage {stage}" in message
    job = await only_job(sessions)
    async with sessions() as session:
        discussion = await discussions.find_by_id(job.discussion_id, session=session)
        assert await tasks.count(session=session) == 0
    assert (job.status, job.stage) == ("failed", stage)
    assert job.error and job.error_stack and job.completed_at is not None
    assert job.job_metadata["processingTime"] >= 0
    assert (discussion.status, discussion.error) == ("failed", job.error)
    assert await sandbox.created("slack", "messages") == []  # no "done" reply for a failed run
    if stage != "thread_building":
        assert [r["name"] for r in await sandbox.created("slack", "reactions")][-1] == "x"
