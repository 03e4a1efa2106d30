"""Deciding proposed actions through Temporal Updates: drafts and events made once, rejections, feedback,
queued tool calls, dashboard reads and the run log (prune included)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import TemporalError
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from activities.deps import Deps
from activities.signals import SignalActivities
from client.signals import (
    approve_action,
    give_feedback,
    queue_tool_call,
    register_user,
    reject_action,
    start_ingestion,
)
from contracts.approvals import (
    CompleteApprovalInput,
    CreateAtProviderInput,
    QueueToolCallInput,
    RecordFeedbackInput,
    RecordToolCallInput,
    proposed_action_workflow_id,
    tool_call_workflow_id,
)
from contracts.signals import DeleteOldRunsInput, PruneRunLogInput
from core.errors import InvalidInputError
from db.models.signals import (
    CalendarEventRecord,
    FeedbackEntry,
    GmailDraft,
    ProposedAction,
    WorkflowEvent,
    WorkflowRun,
    WorkItem,
)
from db.repositories import dashboard
from db.repositories.run_log import AuditLogRepository, RunLogRepository
from db.repository import Repository
from sandbox.control import SandboxControl
from tests.helpers import record_history
from workflows.signals import PruneRunLogWorkflow

MAILBOX = "alice@example.com"


@pytest.fixture
async def user(sessions: async_sessionmaker[AsyncSession], sandbox: SandboxControl) -> str:
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    await register_user(sessions, user_id=user_id, mailbox=MAILBOX)
    return user_id


async def queue(sessions: async_sessionmaker[AsyncSession], user: str) -> list[dict]:
    async with sessions() as session:
        return await dashboard.approval_queue(session=session, user_id=user)


async def ingested_queue(
    client: Client, task_queue: str, sessions: async_sessionmaker[AsyncSession], user: str
) -> dict[str, dict]:
    await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
    return {row["summary"]: row for row in await queue(sessions, user)}


async def rows(sessions: async_sessionmaker[AsyncSession], model: type) -> list:
    async with sessions() as session:
        return await Repository(model).find_many(session=session)


async def test_approving_twice_makes_one_draft_and_returns_the_same_result(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        items = await ingested_queue(client, task_queue, sessions, user)
        row = items["Decision needed: analytics contract renewal"]
        action_id = str(row["action_id"])
        edited = "Hi Priya,\n\nYes, let us renew.\n"
        first = await approve_action(
            client, sessions, action_id, task_queue=task_queue, payload_override={"body": edited}
        )
        second = await approve_action(client, sessions, action_id, task_queue=task_queue)
        await record_history(client.get_workflow_handle(proposed_action_workflow_id(action_id)), "proposed_action")

    assert first == second and first.status == "executed" and first.provider_id
    drafts = await sandbox.created("gmail", "drafts")
    assert len(drafts) == 1 and drafts[0]["id"] == first.provider_id
    stored = await rows(sessions, GmailDraft)
    assert [(d.provider_draft_id, str(d.action_id)) for d in stored] == [(first.provider_id, action_id)]
    async with sessions() as session:
        action = await Repository(ProposedAction).find_by_id(uuid.UUID(action_id), session=session)
        assert action is not None
        item = await Repository(WorkItem).find_by_id(action.work_item_id, session=session)
        assert item is not None
        timeline = await RunLogRepository().timeline(item.id, session=session)
        audit = await AuditLogRepository().by_target("work_item", str(item.id), session=session)
    assert action.status == "executed" and action.payload["body"] == edited
    assert item.status == "completed" and item.completed_at is not None
    assert [run["phase"] for run in timeline] == ["ingest", "approve"]
    assert [entry.action for entry in audit] == ["work_item.ingested", "action.approved"]
    assert action_id not in {str(r["action_id"]) for r in await queue(sessions, user)}


async def test_approving_a_meeting_request_creates_one_calendar_event_never_ingested_back(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        items = await ingested_queue(client, task_queue, sessions, user)
        action_id = str(items["Can we meet Thursday to review the Q3 roadmap?"]["action_id"])
        outcome = await approve_action(client, sessions, action_id, task_queue=task_queue)
        again = await approve_action(client, sessions, action_id, task_queue=task_queue)
        later = await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()

    assert outcome == again and outcome.html_link
    events = await sandbox.created("calendar", "events")
    assert [e["id"] for e in events] == [outcome.provider_id]
    assert [e.provider_event_id for e in await rows(sessions, CalendarEventRecord)] == [outcome.provider_id]
    calendar = later.sources[1]
    assert calendar.fetched == 1 and calendar.stored == 0  # our own event is not a signal


async def test_rejecting_records_negative_feedback_and_refuses_a_later_approval(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        items = await ingested_queue(client, task_queue, sessions, user)
        action_id = str(items["Refund request for order #4411"]["action_id"])
        rejected = await reject_action(client, sessions, action_id, task_queue=task_queue, note="already refunded")
        assert rejected == await reject_action(client, sessions, action_id, task_queue=task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await approve_action(client, sessions, action_id, task_queue=task_queue)
        assert isinstance(refused.value.cause, TemporalError)
        assert "was rejected" in str(refused.value.cause.cause)
        liked = await give_feedback(client, sessions, action_id, task_queue=task_queue, positive=True, note="good call")

    assert rejected.status == "dismissed" and liked.rating == "positive"
    assert await sandbox.created("gmail", "drafts") == []
    [entry] = await rows(sessions, FeedbackEntry)  # one per work item: the later verdict replaced the first
    assert (entry.rating, entry.note) == ("positive", "good call")
    async with sessions() as session:
        item = await Repository(WorkItem).find_by_id(uuid.UUID(rejected.work_item_id), session=session)
        processed = await dashboard.processed(session=session, user_id=user)
        counts = await AuditLogRepository().counts(session=session, user_id=user)
    assert item is not None and item.status == "dismissed"
    assert [(str(p["id"]), p["action_status"]) for p in processed] == [(rejected.work_item_id, "dismissed")]
    assert counts[("work_item", "action.rejected")] == 1 and counts[("work_item", "feedback.positive")] == 1


async def test_a_queued_tool_call_is_one_work_item_and_action_however_often_queued(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    request = QueueToolCallInput(
        user_id=user,
        call_id=f"call-{uuid.uuid4().hex[:8]}",
        action_type="draft_reply",
        summary="Reply to Tom",
        payload={"to": "tom@example.com", "subject": "Re: roadmap", "body": "Thursday works."},
    )
    async with make_worker():
        first = await queue_tool_call(client, request, task_queue=task_queue)
        second = await queue_tool_call(client, request, task_queue=task_queue)
        handle = client.get_workflow_handle(tool_call_workflow_id(user, request.call_id))
        await record_history(handle, "queue_tool_call")
        # A payload that is not a draft is refused before a run starts.
        with pytest.raises(InvalidInputError, match="not a draft_reply payload: to: "):
            await queue_tool_call(
                client, request.model_copy(update={"call_id": "bad", "payload": {"to": "x"}}), task_queue=task_queue
            )
        outcome = await approve_action(client, sessions, first.action_id, task_queue=task_queue)

    assert first.created and not second.created and first.action_id == second.action_id
    assert len(await rows(sessions, WorkItem)) == len(await rows(sessions, ProposedAction)) == 1
    [draft] = await sandbox.created("gmail", "drafts")
    assert draft["id"] == outcome.provider_id
    async with sessions() as session:
        made = await dashboard.drafts(session=session, user_id=user)
    assert [str(d["action_id"]) for d in made] == [first.action_id]


@pytest.fixture
async def failing_run_delete(engine: AsyncEngine) -> AsyncIterator[None]:
    """Deleting workflow_runs fails, after the events were deleted in the same transaction."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION test_fail_run_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'injected prune failure'; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER test_fail_run_delete BEFORE DELETE ON workflow_runs "
                "FOR EACH ROW EXECUTE FUNCTION test_fail_run_delete()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS test_fail_run_delete ON workflow_runs"))
            await conn.execute(text("DROP FUNCTION IF EXISTS test_fail_run_delete()"))


async def age_all_runs(engine: AsyncEngine, days: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE workflow_runs SET created_at = now() - make_interval(days => :d)"), {"d": days})
        await conn.execute(
            text("UPDATE workflow_events SET created_at = now() - make_interval(days => :d)"), {"d": days}
        )


async def test_pruning_the_run_log_is_all_or_nothing(
    client: Client,
    make_worker,
    task_queue: str,
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    user: str,
    failing_run_delete: None,
) -> None:
    async with make_worker():
        await ingested_queue(client, task_queue, sessions, user)
    await age_all_runs(engine, 40)
    before = (len(await rows(sessions, WorkflowEvent)), len(await rows(sessions, WorkflowRun)))
    assert before[1] > 0
    # The activity itself, once: its error is the injected one (the runs' delete, after the events').
    with pytest.raises(DBAPIError, match="injected prune failure"):
        await ActivityEnvironment().run(
            SignalActivities(deps).delete_old_runs, DeleteOldRunsInput(cutoff=datetime.now(UTC) - timedelta(days=30))
        )
    # The events' delete went back with the runs' failed one.
    assert (len(await rows(sessions, WorkflowEvent)), len(await rows(sessions, WorkflowRun))) == before


async def test_prune_deletes_runs_and_events_past_the_retention_only(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    user: str,
) -> None:
    async with make_worker():
        items = await ingested_queue(client, task_queue, sessions, user)
        await age_all_runs(engine, 40)
        action_id = str(items["Decision needed: analytics contract renewal"]["action_id"])
        await approve_action(client, sessions, action_id, task_queue=task_queue)  # a fresh run
        handle = await client.start_workflow(
            PruneRunLogWorkflow.run,
            PruneRunLogInput(retention_days=30),
            id=f"prune-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        await record_history(handle, "prune_run_log")

    assert result.runs_deleted == len(items) and result.events_deleted == 3 * len(items)
    assert result.cutoff < datetime.now(UTC) - timedelta(days=29)
    [run] = await rows(sessions, WorkflowRun)
    assert run.phase == "approve" and len(await rows(sessions, WorkflowEvent)) == 1
    assert len(await rows(sessions, WorkItem)) == len(items)  # work items are not the run log


def activity_env(workflow_id: str, activity_id: str = "1") -> ActivityEnvironment:
    """An activity environment whose every call is the same activity execution (a retry of it)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=workflow_id, workflow_run_id=f"{workflow_id}-run", activity_id=activity_id
    )
    return env


async def queued_action(deps: Deps, user: str) -> str:
    """A draft_reply action queued directly through the activity (no workflow)."""
    workflow_id = f"tool-call/{user}/{uuid.uuid4().hex[:8]}"
    queued = await activity_env(workflow_id).run(
        ApprovalActivities(deps).record_tool_call,
        RecordToolCallInput(
            user_id=user,
            call_id=workflow_id,
            action_type="draft_reply",
            summary="Reply to Tom",
            payload={"to": "tom@example.com", "subject": "Re: roadmap", "body": "Thursday works."},
            workflow_id=workflow_id,
            workflow_run_id=f"{workflow_id}-run",
        ),
    )
    return queued.action_id


async def phase_counts(sessions: async_sessionmaker[AsyncSession], user: str) -> tuple[dict, dict]:
    async with sessions() as session:
        runs = await session.execute(text("SELECT phase, count(*) FROM workflow_runs GROUP BY phase"))
        audit = await AuditLogRepository().counts(session=session, user_id=user)
    return dict(runs.all()), audit


async def test_feedback_retried_after_its_commit_writes_its_rows_once(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    user: str,
) -> None:
    action_id = await queued_action(deps, user)
    workflow_id = proposed_action_workflow_id(action_id)
    env = activity_env(workflow_id, activity_id="7")
    request = RecordFeedbackInput(
        action_id=action_id,
        rating="positive",
        note="good",
        given_by="user",
        workflow_id=workflow_id,
        workflow_run_id=f"{workflow_id}-run",
    )
    activities = ApprovalActivities(deps)

    first = await env.run(activities.record_feedback, request)
    retried = await env.run(activities.record_feedback, request)  # the same execution, retried after its commit

    assert first == retried
    runs, audit = await phase_counts(sessions, user)
    assert runs.get("feedback") == 1 and audit[("work_item", "feedback.positive")] == 1
    async with sessions() as session:
        assert (
            await session.scalar(
                text(
                    "SELECT count(*) FROM workflow_events e JOIN workflow_runs r "
                    "ON r.id = e.run_id WHERE r.phase = 'feedback'"
                )
            )
            == 1
        )
    # A later, separate feedback (another activity execution) is a new verdict: it is written.
    await activity_env(workflow_id, activity_id="8").run(
        activities.record_feedback, request.model_copy(update={"rating": "negative"})
    )
    runs, audit = await phase_counts(sessions, user)
    assert runs.get("feedback") == 2 and audit[("work_item", "feedback.negative")] == 1
    [entry] = await rows(sessions, FeedbackEntry)
    assert entry.rating == "negative"


async def test_approval_activities_retried_after_their_commit_make_one_draft_and_write_once(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    action_id = await queued_action(deps, user)
    workflow_id = proposed_action_workflow_id(action_id)
    activities = ApprovalActivities(deps)
    provider_env, complete_env = activity_env(workflow_id, "1"), activity_env(workflow_id, "2")

    made = await provider_env.run(activities.create_at_provider, CreateAtProviderInput(action_id=action_id))
    again = await provider_env.run(activities.create_at_provider, CreateAtProviderInput(action_id=action_id))
    complete = CompleteApprovalInput(
        action_id=action_id,
        provider=made,
        approved_by="user",
        workflow_id=workflow_id,
        workflow_run_id=f"{workflow_id}-run",
    )
    outcome = await complete_env.run(activities.complete_approval, complete)
    retried = await complete_env.run(activities.complete_approval, complete)  # after its commit
    after = await provider_env.run(activities.create_at_provider, CreateAtProviderInput(action_id=action_id))

    assert again.provider_id == made.provider_id and after.already_executed
    assert retried == outcome and outcome.provider_id == made.provider_id
    [draft] = await sandbox.created("gmail", "drafts")
    assert draft["id"] == made.provider_id
    assert [d.provider_draft_id for d in await rows(sessions, GmailDraft)] == [made.provider_id]
    runs, audit = await phase_counts(sessions, user)
    assert runs.get("approve") == 1 and audit[("work_item", "action.approved")] == 1


async def test_dashboard_lists_what_approvals_made_newest_first_and_decisions_by_when_decided(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    sandbox: SandboxControl,
    user: str,
) -> None:
    activities = ApprovalActivities(deps)
    event = {"summary": "Roadmap", "start": "2030-01-02T10:00:00Z", "end": "2030-01-02T10:30:00Z"}
    actions = [await queued_action(deps, user) for _ in range(2)]
    workflow_id = f"tool-call/{user}/event"
    actions.append(
        (
            await activity_env(workflow_id).run(
                activities.record_tool_call,
                RecordToolCallInput(
                    user_id=user,
                    call_id="event",
                    action_type="schedule_event",
                    summary="Meet",
                    payload=event,
                    workflow_id=workflow_id,
                    workflow_run_id=f"{workflow_id}-run",
                ),
            )
        ).action_id
    )
    items = []
    for number, action_id in enumerate(actions):
        env = activity_env(proposed_action_workflow_id(action_id), str(number))
        made = await env.run(activities.create_at_provider, CreateAtProviderInput(action_id=action_id))
        items.append(
            (
                await env.run(
                    activities.complete_approval,
                    CompleteApprovalInput(
                        action_id=action_id,
                        provider=made,
                        approved_by="user",
                        workflow_id="w",
                        workflow_run_id="r",
                    ),
                )
            ).work_item_id
        )
    # Made in the order: second draft, the event, first draft; decided in the order of `items`, but the
    # first item was touched last (updated_at), which says nothing about when it was decided.
    async with engine.begin() as conn:
        for table, action_id, days in (
            ("gmail_drafts", actions[1], 3),
            ("calendar_events", actions[2], 2),
            ("gmail_drafts", actions[0], 1),
        ):
            await conn.execute(
                text(f"UPDATE {table} SET synced_at = now() - make_interval(days => :d) WHERE action_id = :a"),
                {"d": days, "a": uuid.UUID(action_id)},
            )
        for item_id, days in zip(items, (3, 2, 1), strict=True):
            await conn.execute(
                text(
                    "UPDATE work_items SET completed_at = now() - make_interval(days => :d), "
                    "updated_at = now() - make_interval(days => 4 - :d) WHERE id = :i"
                ),
                {"d": days, "i": uuid.UUID(item_id)},
            )

    async with sessions() as session:
        newest_drafts = await dashboard.drafts(session=session, user_id=user, limit=2)
        decided = await dashboard.processed(session=session, user_id=user)
    assert [str(row["action_id"]) for row in newest_drafts] == [actions[0], actions[2]]
    assert [str(row["id"]) for row in decided] == items[::-1]
