"""DiscussionWorkflow end to end: real Temporal, real PostgreSQL, the official SDKs against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from activities.deps import Deps
from client.discussions import DiscussionNotRetryableError, retry_discussion, start_discussion
from contracts.discussions import DiscussionInput, discussion_id_for
from core.errors import ConflictError, NotFoundError
from core.settings import Settings
from db.repositories.discussions import DiscussionRepository, JobRepository, TaskRepository
from integrations.factory import build_clients
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.helpers import record_history
from worker import build_worker
from workflows.search_attributes import DISCUSSION_ID, TEAM_ID

CHECKOUT = "C0PRODUCT:1718010000.000100"  # the sandbox's thread with four action items
PLANNING = "C0PRODUCT:1718020000.000100"  # the sandbox's long thread, with two action items
discussions, jobs, tasks = DiscussionRepository(), JobRepository(), TaskRepository()


def slack_thread(team: str, thread: str = CHECKOUT) -> DiscussionInput:
    return DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread)


@contextlib.asynccontextmanager
async def jobs_refusing(engine, name: str, message: str, *, when: str):
    """A trigger that makes the database refuse updates of jobs matching `when`, while inside."""
    async with engine.begin() as conn:
        await conn.execute(
            text(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{message}'; END $$""")
        )
        await conn.execute(
            text(f"CREATE TRIGGER {name} BEFORE UPDATE ON jobs FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()")
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {name} ON jobs"))
            await conn.execute(text(f"DROP FUNCTION {name}()"))


async def test_a_slack_thread_becomes_notion_tasks_through_six_stages(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    async with make_worker():
        handle = await start_discussion(client, slack_thread(team), task_queue=task_queue)
        result = await handle.result()

    async with sessions() as session:
        discussion = await discussions.find_by_id(uuid.UUID(result.discussion_id), session=session)
        job = await jobs.find_by_id(uuid.UUID(result.job_id), session=session)
        assert discussion is not None and job is not None
        records = await tasks.for_discussion(discussion.id, session=session)

    # The run is findable in the UI by team and discussion; the discussion's id is the thread's.
    assert result.discussion_id == str(discussion_id_for(team, "slack", CHECKOUT))
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(TEAM_ID) == team and attributes.get(DISCUSSION_ID) == result.discussion_id
    # The rows are linked as the seed says.
    assert discussion.status == "completed" and discussion.completed_at is not None
    assert discussion.sync_job_id == job.id and job.discussion_id == discussion.id
    assert job.source_config_id == discussion.source_config_id is not None
    assert (job.status, job.stage, job.error) == ("completed", "notification", None)
    assert job.completed_at is not None
    assert job.job_metadata["processingTime"] == result.processing_ms
    assert job.job_metadata["taskIds"] == result.task_ids == discussion.notion_task_ids
    assert discussion.created_by == job.created_by == "system"
    assert discussion.thread_data is not None
    assert discussion.thread_data["messages"][0]["text"].startswith("Customers in the EU")
    assert discussion.ai_summary and discussion.ai_action_items and discussion.ai_analysis is not None
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


async def test_a_new_sandbox_over_kept_data_creates_pages_that_no_stored_task_holds(
    client: Client,
    settings: Settings,
    task_queue: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
) -> None:
    """PostgreSQL outlives the sandbox (`intake down`, `intake up`): a new sandbox with the same seed
    serves the next discussion, and the Notion pages it creates are new ones."""
    results, made = [], []
    for thread in (CHECKOUT, PLANNING):
        server = SandboxServer(seed=0)
        here = settings.model_copy(update={"sandbox_url": await server.start("127.0.0.1", 0)})
        deps = Deps(settings=here, engine=engine, services=build_clients(here))
        try:
            async with build_worker(client, deps, task_queue=task_queue):
                handle = await start_discussion(client, slack_thread(team, thread), task_queue=task_queue)
                results.append(await handle.result())
            async with SandboxControl(server.url or "") as control:
                made.append({p["id"] for p in await control.created("notion", "pages")})
        finally:
            await deps.services.aclose()
            await server.stop()

    async with sessions() as session:
        stored = [
            {r.notion_page_id for r in await tasks.for_discussion(uuid.UUID(r.discussion_id), session=session)}
            for r in results
        ]
        second = await discussions.find_by_id(uuid.UUID(results[1].discussion_id), session=session)
    assert stored == made and len(made[0]) > 1 and len(made[1]) > 1
    assert not made[0] & made[1]
    assert second is not None and second.status == "completed"


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


@pytest.mark.parametrize(
    "thread, configured, reason",
    [
        ("not-a-thread", True, "is not valid: expected <channel>:<thread ts>"),
        (CHECKOUT, False, "has no enabled slack source config"),
    ],
)
async def test_bad_input_fails_at_ingestion_with_a_clear_reason_and_no_discussion(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    thread: str,
    configured: bool,
    reason: str,
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


@pytest.mark.parametrize(
    "stage, fault",
    [
        ("thread_building", {"thread": "C0PRODUCT:1999999999.000100"}),
        ("ai_analysis", {"revoke": ("llm", "sk-sandbox")}),
        ("task_creation", {"revoke": ("notion", "secret_sandbox")}),
        ("notification", {"reject": ("slack", "chat.postMessage")}),
    ],
)
async def test_a_failure_at_a_stage_marks_job_and_discussion_failed_there(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    stage: str,
    fault: dict,
) -> None:
    if "revoke" in fault:
        await sandbox.revoke_token(*fault["revoke"])
    if "reject" in fault:
        await sandbox.set_fault(*fault["reject"], reject_rate=1.0)
    async with make_worker():
        message = await run_to_failure(client, task_queue, slack_thread(team, fault.get("thread", CHECKOUT)))

    assert f"stage {stage}" in message
    job = await only_job(sessions)
    async with sessions() as session:
        discussion = await discussions.find_by_id(job.discussion_id, session=session)
        made = await tasks.count(session=session)
    assert discussion is not None
    if stage == "notification":
        assert discussion.ai_analysis is not None and made == len(discussion.ai_analysis["tasks"])
    else:
        assert made == 0
    assert (job.status, job.stage) == ("failed", stage)
    assert job.error and job.error_stack and job.completed_at is not None
    assert job.job_metadata["processingTime"] >= 0
    assert (discussion.status, discussion.error) == ("failed", job.error)
    assert await sandbox.created("slack", "messages") == []  # no "done" reply for a failed run
    if stage != "thread_building":
        assert [r["name"] for r in await sandbox.created("slack", "reactions")][-1] == "x"


async def test_a_retry_is_a_new_job_that_reuses_the_stored_thread(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    await sandbox.revoke_token("notion", "secret_sandbox")
    async with make_worker():
        await run_to_failure(client, task_queue, slack_thread(team))
        failed_job = await only_job(sessions)
        fetches = await sandbox.call_count("slack", "conversations.replies")

        await sandbox.reset(seed=0)  # Notion is back
        handle = await retry_discussion(
            client,
            sessions,
            team_id=team,
            discussion_id=str(failed_job.discussion_id),
            retried_by="user-7",
            task_queue=task_queue,
        )
        result = await handle.result()

    # The thread was not fetched again: the only reads of it after the retry began are the reply's
    # look-before-post in the notification stage, after every Notion page was made.
    assert fetches >= 1
    last_page = max(c["at"] for c in await sandbox.calls("notion", "pages.create"))
    assert all(c["at"] > last_page for c in await sandbox.calls("slack", "conversations.replies"))
    async with sessions() as session:
        retry_job = await jobs.find_by_id(uuid.UUID(result.job_id), session=session)
        old_job = await jobs.find_by_id(failed_job.id, session=session)
        discussion = await discussions.find_by_id(failed_job.discussion_id, session=session)
        assert await jobs.count(session=session) == 2
    assert retry_job is not None and old_job is not None and discussion is not None
    assert retry_job.id != old_job.id and old_job.status == "failed"
    assert retry_job.status == "completed" and retry_job.discussion_id == discussion.id
    assert {k: retry_job.job_metadata.get(k) for k in ("isRetry", "retriedBy", "originalDiscussionId")} == {
        "isRetry": True,
        "retriedBy": "user-7",
        "originalDiscussionId": str(discussion.id),
    }
    assert (discussion.status, discussion.sync_job_id, discussion.error) == ("completed", retry_job.id, None)
    assert len(await sandbox.created("notion", "pages")) == len(result.task_ids) > 0


async def test_retrying_a_discussion_that_has_not_failed_is_refused(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    async with make_worker():
        result = await (await start_discussion(client, slack_thread(team), task_queue=task_queue)).result()
    with pytest.raises(DiscussionNotRetryableError, match="is completed, not failed"):
        await retry_discussion(
            client, sessions, team_id=team, discussion_id=result.discussion_id, retried_by="u", task_queue=task_queue
        )
    with pytest.raises(NotFoundError):
        await retry_discussion(
            client,
            sessions,
            team_id="another-team",
            discussion_id=result.discussion_id,
            retried_by="u",
            task_queue=task_queue,
        )
    async with sessions() as session:
        assert await jobs.count(session=session) == 1


@pytest.mark.parametrize("service, operation", [("notion", "pages.create"), ("slack", "chat.postMessage")])
async def test_a_write_whose_answer_is_lost_happens_once(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    service: str,
    operation: str,
) -> None:
    """The service does the write, then answers 500: the activity is retried and finds its write."""
    await sandbox.set_fault(service, operation, fail_after_write="error", times=1)
    async with make_worker():
        result = await (await start_discussion(client, slack_thread(team), task_queue=task_queue)).result()

    assert [c["fault"] for c in await sandbox.calls(service, operation)].count("fail_after_write:error") == 1
    pages = await sandbox.created("notion", "pages")
    keys = [p["properties"]["Intake Key"]["rich_text"][0]["plain_text"] for p in pages]
    assert len(pages) == len(set(keys)) == len(result.task_ids)
    assert len(await sandbox.created("slack", "messages")) == 1
    async with sessions() as session:
        assert await tasks.count(session=session) == len(result.task_ids)


async def test_a_redelivered_webhook_finds_the_running_pipeline(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    await sandbox.set_fault("llm", "chat.completions.create", latency_ms=1500)  # keep the run going
    async with make_worker():
        first = await start_discussion(client, slack_thread(team), task_queue=task_queue)
        again = await start_discussion(client, slack_thread(team), task_queue=task_queue)
        assert again.id == first.id
        assert (await again.describe()).run_id == (await first.describe()).run_id
        await first.result()
    with pytest.raises(ConflictError, match="already processed"):
        await start_discussion(client, slack_thread(team), task_queue=task_queue)
    async with sessions() as session:
        assert await jobs.count(session=session) == 1
    assert len(await sandbox.created("slack", "messages")) == 1


async def test_killing_the_worker_mid_run_completes_without_duplicates(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    # Slow Notion down so the first worker dies while pages are being made.
    await sandbox.set_fault("notion", "pages.create", latency_ms=400)
    first = make_worker()
    running = asyncio.create_task(first.run())
    handle = await start_discussion(client, slack_thread(team), task_queue=task_queue)
    for _ in range(200):
        if await sandbox.call_count("notion", "pages.create") >= 1:
            break
        await asyncio.sleep(0.05)
    running.cancel()  # the worker is gone, as if killed: no graceful shutdown of its activities
    with contextlib.suppress(asyncio.CancelledError, BaseException):
        await running

    async with make_worker():
        result = await handle.result()

    pages = await sandbox.created("notion", "pages")
    assert len(pages) == len(result.task_ids) > 1
    assert len(await sandbox.created("slack", "messages")) == 1
    async with sessions() as session:
        assert await tasks.count(session=session) == len(result.task_ids)
        assert await jobs.count(session=session) == 1


async def test_a_failing_stage_update_never_fails_the_pipeline(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    engine,
    sandbox: SandboxControl,
    team: str,
) -> None:
    """The database refuses every stage change of a running job (a trigger); the run still completes."""
    async with (
        jobs_refusing(
            engine,
            "refuse_stage_change",
            "stage updates are broken today",
            when="NEW.status = 'processing' AND NEW.stage IS DISTINCT FROM OLD.stage",
        ),
        make_worker(),
    ):
        result = await (await start_discussion(client, slack_thread(team), task_queue=task_queue)).result()
    async with sessions() as session:
        job = await jobs.find_by_id(uuid.UUID(result.job_id), session=session)
    assert job is not None and (job.status, job.stage) == ("completed", "notification")
    assert len(result.task_ids) > 1


async def test_a_failing_job_completion_never_fails_the_pipeline(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    engine,
    sandbox: SandboxControl,
    team: str,
) -> None:
    """The database refuses to finish any job (a trigger); the discussion still completes, once."""
    async with (
        jobs_refusing(engine, "refuse_job_finish", "job updates are broken today", when="NEW.status <> OLD.status"),
        make_worker(),
    ):
        result = await (await start_discussion(client, slack_thread(team), task_queue=task_queue)).result()
    async with sessions() as session:
        job = await jobs.find_by_id(uuid.UUID(result.job_id), session=session)
        discussion = await discussions.find_by_id(uuid.UUID(result.discussion_id), session=session)
    assert job is not None and discussion is not None
    assert job.status == "processing"  # left as it was, and logged
    assert (discussion.status, discussion.notion_task_ids) == ("completed", result.task_ids)
    assert await sandbox.call_count("slack", "chat.postMessage") == 1
