"""IngestSignalsWorkflow end to end: real Temporal, real PostgreSQL, the Google clients against the sandbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import ActivityEnvironment

from activities.deps import Deps
from activities.signals import SignalActivities
from client.signals import register_user, start_ingestion
from contracts.signals import IngestSignalsResult, IngestSourceInput
from core.errors import InvalidInputError
from db.models.signals import (
    AuditLog,
    GateEvaluation,
    IngestionState,
    ProposedAction,
    SignalUser,
    WorkflowEvent,
    WorkflowRun,
    WorkItem,
)
from db.repository import Repository
from sandbox.control import SandboxControl
from tests.helpers import record_history

MAILBOX = "alice@example.com"  # the sandbox's inbox with a decision, a meeting, a refund and a digest
TABLES = (WorkItem, GateEvaluation, ProposedAction, WorkflowRun, WorkflowEvent, AuditLog)


@pytest.fixture
async def user(sessions: async_sessionmaker[AsyncSession], sandbox: SandboxControl) -> str:
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    await register_user(sessions, user_id=user_id, mailbox=MAILBOX, sender_scores={"@vendor.example": 0.8})
    return user_id


async def counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        return {model.__tablename__: await Repository(model).count(session=session) for model in TABLES}


async def state_of(sessions: async_sessionmaker[AsyncSession], user_id: str) -> IngestionState:
    async with sessions() as session:
        state = await Repository(IngestionState).find_by_id(user_id, session=session)
    assert state is not None
    return state


async def ingest(client: Client, task_queue: str, user_id: str) -> IngestSignalsResult:
    handle = await start_ingestion(client, user_id, task_queue=task_queue, force=True)
    return await handle.result()


async def test_actionable_mail_and_events_become_work_items_with_gates_and_an_action(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    user: str,
) -> None:
    async with make_worker():
        handle = await start_ingestion(client, user, task_queue=task_queue, force=True)
        result = await handle.result()

    assert result.status == "completed"
    gmail, calendar = result.sources
    assert (gmail.source, gmail.fetched, gmail.not_actionable) == ("gmail", 4, 1)  # the digest asks nothing
    assert calendar.source == "calendar" and calendar.fetched == 3
    async with sessions() as session:
        items = await Repository(WorkItem).find_many(session=session, user_id=user)
        by_summary = {item.summary: item for item in items}
        intents = {item.summary: item.intent for item in items}
        assert intents["Decision needed: analytics contract renewal"] == "draft_reply"
        assert intents["Can we meet Thursday to review the Q3 roadmap?"] == "schedule_event"
        assert intents["Refund request for order #4411"] == "refund_request"
        assert "Your weekly digest" not in intents
        decision = by_summary["Decision needed: analytics contract renewal"]
        gates = {
            g.gate: g for g in await Repository(GateEvaluation).find_many(session=session, work_item_id=decision.id)
        }
        assert set(gates) == {"decision", "time", "relationship", "impact", "watch"}
        assert gates["decision"].passed and gates["relationship"].passed and gates["impact"].passed
        assert all(0 <= g.score <= 10 and g.reason for g in gates.values())
        assert decision.importance_tier in ("critical", "important") and 0 < decision.importance_score <= 100
        actions = await Repository(ProposedAction).find_many(session=session)
        assert len(actions) == len(items) == gmail.stored + calendar.stored
        assert all(a.status == "pending" for a in actions)
    # One run log (three events) and one audit entry per stored signal.
    assert await counts(sessions) == {
        "work_items": len(items),
        "gate_evaluations": 5 * len(items),
        "proposed_actions": len(items),
        "workflow_runs": len(items),
        "workflow_events": 3 * len(items),
        "audit_logs": len(items),
    }
    state = await state_of(sessions, user)
    assert state.gmail_cursor == gmail.cursor and state.calendar_cursor == calendar.cursor
    assert state.last_synced_at == result.synced_at and state.last_error is None
    assert state.bootstrap_completed_at is not None
    await record_history(handle, "ingest_signals")


async def test_a_new_run_fetches_only_what_arrived_and_re_ingesting_changes_no_counts(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        await ingest(client, task_queue, user)
        before = await counts(sessions)
        again = await ingest(client, task_queue, user)
        assert [s.fetched for s in again.sources] == [0, 0]
        assert await counts(sessions) == before

        await sandbox.deliver_mail(
            MAILBOX,
            sender="Priya Shah <priya@vendor.example>",
            subject="Can you approve the budget today?",
            body="We need it today.",
        )
        third = await ingest(client, task_queue, user)
    assert third.sources[0].fetched == third.sources[0].stored == 1
    after = await counts(sessions)
    assert after["work_items"] == before["work_items"] + 1
    assert after["gate_evaluations"] == before["gate_evaluations"] + 5


async def test_expired_cursors_trigger_a_full_resync_without_duplicates(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        first = await ingest(client, task_queue, user)
        before = await counts(sessions)
        await sandbox.expire_gmail_history(MAILBOX)
        await sandbox.expire_calendar_sync_tokens(MAILBOX)
        await sandbox.deliver_mail(
            MAILBOX,
            sender="Tom Reyes <tom@example.com>",
            subject="Should we ship on Friday?",
            body="Decide by tomorrow please.",
        )
        second = await ingest(client, task_queue, user)

    gmail, calendar = second.sources
    assert gmail.full_resync and calendar.full_resync
    assert gmail.fetched == 5 and gmail.stored == 1 and gmail.unchanged == first.sources[0].stored
    assert calendar.stored == 0 and calendar.unchanged == first.sources[1].stored
    after = await counts(sessions)
    assert after == {
        table: count + (5 if table == "gate_evaluations" else 3 if table == "workflow_events" else 1)
        for table, count in before.items()
    }
    state = await state_of(sessions, user)
    assert state.gmail_cursor == gmail.cursor != first.sources[0].cursor
    assert state.calendar_cursor == calendar.cursor


async def test_after_a_resync_the_next_run_is_incremental_from_the_cursor_it_returned(
    client: Client,
    make_worker,
    task_queue: str,
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        await ingest(client, task_queue, user)
        await sandbox.expire_gmail_history(MAILBOX)
        await sandbox.expire_calendar_sync_tokens(MAILBOX)
        resync = await ingest(client, task_queue, user)
        assert [s.full_resync for s in resync.sources] == [True, True]
        full_lists = await sandbox.call_count("gmail", "users.messages.list")
        quiet = await ingest(client, task_queue, user)
        await sandbox.deliver_mail(
            MAILBOX,
            sender="Tom Reyes <tom@example.com>",
            subject="Should we ship on Friday?",
            body="Decide by tomorrow please.",
        )
        later = await ingest(client, task_queue, user)

    # The cursors the resync handed out are accepted: no 404/410, no second full listing.
    assert [(s.full_resync, s.fetched) for s in quiet.sources] == [(False, 0), (False, 0)]
    assert [s.cursor for s in quiet.sources] == [s.cursor for s in resync.sources]
    assert (later.sources[0].full_resync, later.sources[0].fetched, later.sources[0].stored) == (False, 1, 1)
    assert await sandbox.call_count("gmail", "users.messages.list") == full_lists
    history = await sandbox.calls("gmail", "users.history.list")
    assert [c["status"] for c in history] == [404, 200, 200]
    listed = [c for c in await sandbox.calls("calendar", "events.list") if "syncToken" in c["query"]]
    assert [c["status"] for c in listed] == [410, 200, 200]


async def test_a_failed_fetch_records_last_error_and_leaves_the_cursors(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        first = await ingest(client, task_queue, user)
        before = await counts(sessions)
        await sandbox.deliver_mail(
            MAILBOX,
            sender="Tom Reyes <tom@example.com>",
            subject="Can you confirm the venue?",
            body="Need a decision today.",
        )
        await sandbox.add_calendar_event(
            MAILBOX,
            {
                "summary": "Board prep: can you confirm the agenda?",
                "attendees": [{"email": "tom@example.com"}],
                "start": {"dateTime": "2030-07-02T10:00:00Z"},
                "end": {"dateTime": "2030-07-02T11:00:00Z"},
            },
        )
        await sandbox.set_fault("gmail", "users.history.list", reject_rate=1.0)
        with pytest.raises(WorkflowFailureError) as failed:
            await ingest(client, task_queue, user)
        assert "users.history.list" in str(failed.value.cause)

        state = await state_of(sessions, user)
        assert state.gmail_cursor == first.sources[0].cursor  # where it was
        # Calendar went through on its own: its new event is stored (one signal's rows, no mail's)
        # and its cursor moved, in the run whose Gmail part failed.
        assert state.calendar_cursor != first.sources[1].cursor
        assert "users.history.list" in (state.last_error or "") and state.last_error_at is not None
        assert state.last_synced_at == first.synced_at
        assert await counts(sessions) == {
            table: count + (5 if table == "gate_evaluations" else 3 if table == "workflow_events" else 1)
            for table, count in before.items()
        }
        async with sessions() as session:
            [added] = await Repository(WorkItem).find_many(
                session=session, user_id=user, summary="Board prep: can you confirm the agenda?"
            )
        assert added.source == "calendar"

        # The next run resumes from the last good cursor and picks the mail up.
        await sandbox.clear_faults()
        resumed = await ingest(client, task_queue, user)
    assert resumed.sources[0].stored == 1
    state = await state_of(sessions, user)
    assert state.last_error is None and state.gmail_cursor == resumed.sources[0].cursor


@pytest.fixture
async def failing_refund_audit(engine: AsyncEngine) -> AsyncIterator[None]:
    """A fault in the database itself: the audit insert (the last of a signal's writes) fails for refunds."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION test_fail_refund_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.payload->>'intent' = 'refund_request' THEN RAISE EXCEPTION 'injected audit failure'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER test_fail_refund_audit BEFORE INSERT ON audit_logs FOR EACH ROW "
                "EXECUTE FUNCTION test_fail_refund_audit()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS test_fail_refund_audit ON audit_logs"))
            await conn.execute(text("DROP FUNCTION IF EXISTS test_fail_refund_audit()"))


async def test_a_signals_five_writes_commit_together_or_not_at_all(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    user: str,
    failing_refund_audit: None,
) -> None:
    async with make_worker():
        with pytest.raises(WorkflowFailureError):
            await ingest(client, task_queue, user)

    async with sessions() as session:
        items = await Repository(WorkItem).find_many(session=session, user_id=user)
        intents = [item.intent for item in items]
        assert "refund_request" not in intents and "draft_reply" in intents
        ids = [item.id for item in items]
        # The refund's work item, gates, action and run log went with its failed audit insert.
        assert await Repository(GateEvaluation).count(session=session) == 5 * len(ids)
        assert await Repository(ProposedAction).count(session=session) == len(ids)
        assert await Repository(WorkflowRun).count(session=session) == len(ids)
        assert await Repository(AuditLog).count(session=session) == len(ids)
    state = await state_of(sessions, user)
    assert state.gmail_cursor is None  # Gmail's cursor did not move past the failed signal
    assert "injected audit failure" in (state.last_error or "")


async def test_app_open_is_stale_gated_unless_forced(
    client: Client,
    make_worker,
    task_queue: str,
    user: str,
) -> None:
    async with make_worker():
        await ingest(client, task_queue, user)
        fresh = await (await start_ingestion(client, user, task_queue=task_queue)).result()
        assert fresh.status == "skipped" and "less than 120 s ago" in (fresh.reason or "")
        stale = await (await start_ingestion(client, user, task_queue=task_queue, stale_after_seconds=0)).result()
        assert stale.status == "completed"
        forced = await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
        assert forced.status == "completed"


async def test_a_message_deleted_before_it_is_fetched_is_skipped_and_the_cursor_moves(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        first = await ingest(client, task_queue, user)
        gone = await sandbox.deliver_mail(
            MAILBOX,
            sender="Tom Reyes <tom@example.com>",
            subject="Can you confirm the venue?",
            body="Need a decision today.",
        )
        await sandbox.deliver_mail(
            MAILBOX,
            sender="Priya Shah <priya@vendor.example>",
            subject="Can you approve the budget today?",
            body="We need it today.",
        )
        await sandbox.delete_mail(MAILBOX, gone["id"])  # history still lists it; fetching it is a 404
        second = await ingest(client, task_queue, user)

    gmail = second.sources[0]
    assert (gmail.fetched, gmail.gone, gmail.stored) == (1, 1, 1)
    state = await state_of(sessions, user)
    assert state.gmail_cursor == gmail.cursor != first.sources[0].cursor and state.last_error is None
    async with sessions() as session:
        summaries = {item.summary for item in await Repository(WorkItem).find_many(session=session, user_id=user)}
    assert "Can you approve the budget today?" in summaries and "Can you confirm the venue?" not in summaries


async def test_an_overlapping_slower_run_never_moves_the_cursor_backwards(
    client: Client,
    make_worker,
    task_queue: str,
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    user: str,
) -> None:
    async with make_worker():
        first = await ingest(client, task_queue, user)
    read = first.sources[0].cursor  # both runs below start from it
    activities = SignalActivities(deps)
    await sandbox.deliver_mail(
        MAILBOX,
        sender="Tom Reyes <tom@example.com>",
        subject="Can you confirm the venue?",
        body="Need a decision today.",
    )

    # The slow run lists the history (its cursor is fixed then) and heartbeats while its fetches hang.
    fetching = asyncio.Event()
    slow_env = ActivityEnvironment()
    slow_env.on_heartbeat = lambda *details: fetching.set() if details == ("fetching",) else None
    await sandbox.set_fault("gmail", "users.messages.get", latency_ms=2500)  # below the client timeout (3 s)
    slow = asyncio.create_task(slow_env.run(activities.ingest_gmail, IngestSourceInput(user_id=user, cursor=read)))
    await fetching.wait()
    await asyncio.sleep(0.3)  # its fetch request reaches the sandbox (its latency is fixed on arrival)
    await sandbox.clear_faults()

    # Meanwhile more mail arrives and a faster run goes through and moves the cursor past it.
    await sandbox.deliver_mail(
        MAILBOX,
        sender="Priya Shah <priya@vendor.example>",
        subject="Can you approve the budget today?",
        body="We need it today.",
    )
    fast = await ActivityEnvironment().run(activities.ingest_gmail, IngestSourceInput(user_id=user, cursor=read))
    assert not slow.done(), "the slow run must finish last for this test to mean anything"
    slower = await slow

    assert int(slower.cursor) < int(fast.cursor) and (slower.fetched, fast.fetched) == (1, 2)
    assert (await state_of(sessions, user)).gmail_cursor == fast.cursor  # not moved back to the slow run's


async def test_re_registering_a_user_updates_only_what_is_given_and_bad_rules_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    await register_user(
        sessions,
        user_id=user_id,
        mailbox=MAILBOX,
        calendar_id="team@example.com",
        watch_keywords=["roadmap"],
        sender_scores={"@vendor.example": 0.8},
    )
    again = await register_user(sessions, user_id=user_id, mailbox=MAILBOX)  # `intake ingest user-add` re-run
    assert (again.calendar_id, again.watch_keywords, again.sender_scores) == (
        "team@example.com",
        ["roadmap"],
        {"@vendor.example": 0.8},
    )
    changed = await register_user(sessions, user_id=user_id, mailbox=MAILBOX, watch_keywords=["outage"])
    assert (changed.watch_keywords, changed.sender_scores) == (["outage"], {"@vendor.example": 0.8})

    refused: list[tuple[dict[str, Any], str]] = [
        ({"sender_scores": {"@vendor.example": 1.5}}, "from 0 to 1"),
        ({"sender_scores": {"tom@example.com": -0.1}}, "from 0 to 1"),
        ({"watch_keywords": ["roadmap", "  "]}, "must not be empty"),
        ({"mailbox": "alice"}, "not an email address"),
    ]
    for bad, message in refused:
        with pytest.raises(InvalidInputError, match=message):
            await register_user(sessions, **{"user_id": user_id, "mailbox": MAILBOX, **bad})
    async with sessions() as session:
        user = await Repository(SignalUser).find_by_id(user_id, session=session)
    assert user is not None
    assert (user.mailbox, user.watch_keywords, user.sender_scores) == (
        MAILBOX,
        ["outage"],
        {"@vendor.example": 0.8},
    )  # nothing half written
