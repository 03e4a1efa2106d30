"""DiscussionWorkflow end to end: real Temporal, real PostgreSQL, the official SDKs against the sandbox."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from client.discussions import start_discussion
from db import admin
from db.repositories.discussions import DiscussionRepository, JobRepository, TaskRepository
from sandbox.control import SandboxControl
from tests.helpers import record_history
from workflows.discussion import DiscussionInput

CHECKOUT = "C0PRODUCT:1718010000.000100"  # the sandbox's thread with four action items
discussions, jobs, tasks = DiscussionRepository(), JobRepository(), TaskRepository()


@pytest.fixture
async def demo_team(engine: AsyncEngine) -> str:
    await admin.seed(engine)
    return admin.DEMO_TEAM_ID


def slack_thread(team: str, thread: str = CHECKOUT) -> DiscussionInput:
    return DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread)


async def test_a_slack_thread_becomes_notion_tasks_through_six_stages(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl, demo_team: str,
) -> None:
    async with make_worker():
        handle = await start_discussion(client, slack_thread(demo_team), task_queue=task_queue)
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
