"""Activities of signal ingestion: Gmail and Calendar signals become work items.

`ingest_gmail` / `ingest_calendar` each fetch one source's new signals (incrementally from the
user's cursor, or a full resync when the cursor expired), run the gates, and store every
signal needing action in its own transaction (`SignalStore.persist_all`: work item, gates,
proposed action, run log, audit log). Many signals per activity call: the signals themselves
never travel through Temporal's history (payload limits), and throughput is not bounded by
activity round trips. A retry fetches again and re-stores harmlessly: unchanged signals write
nothing.

The cursor moves in the SAME transaction as the last signal (alone when there is none). So a
committed cursor always means every signal before it is stored, and there is no window in
which all signals are stored but the cursor lags behind. A failure part-way leaves the old
cursor: the next run fetches from it again and
the signals stored already are skipped as unchanged.

Two runs for one user can overlap (the schedule's and an on-demand one, or a retry while an
earlier attempt still runs): the cursor moves only from the one this run read (compare-and-set
in that same transaction), so a slower run never moves it backwards. Both heartbeat while
fetching as well as while storing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable
from temporalio import activity

from activities.deps import Deps
from activities.gates import INTAKE_EVENT_MARKER, Assessment, GateConfig, Signal, UserRules, assess
from contracts.signals import (
    DeleteOldRunsInput,
    DeleteOldRunsResult,
    FinishIngestionInput,
    IngestSourceInput,
    IngestSourceResult,
    LoadIngestionInput,
    LoadIngestionResult,
)
from core.errors import NotFoundError
from db.models.signals import SignalUser
from db.repositories.run_log import RunLogRepository
from db.repositories.signals import IngestionStateRepository, SignalUserRepository
from db.stores.signals import SignalRecord, SignalStore, StoredSignal
from db.uow import unit_of_work
from integrations.calendar import CalendarEvent
from integrations.errors import PermanentIntegrationError, SyncCursorExpiredError
from integrations.gmail import GmailMessage

# Messages fetched at once from Gmail (the client runs each call in a thread).
FETCH_CONCURRENCY = 8
# Signals stored per database call (each in its own transaction); a heartbeat after each chunk.
CHUNK = 500


# -- the activities -------------------------------------------------------------------------


class SignalActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._services = deps.services
        self._users = SignalUserRepository()
        self._state = IngestionStateRepository()
        self._store = SignalStore(deps.engine)
        self._runs = RunLogRepository()

    @activity.defn(name="signals_load_ingestion")
    async def load_ingestion(self, input: LoadIngestionInput) -> LoadIngestionResult:
        """The user's cursors and last success (the workflow decides whether to run)."""
        async with self._sessions() as session:
            user = await self._user(session, input.user_id)
            state = await self._state.find_by_id(input.user_id, session=session)
        return LoadIngestionResult(
            user_id=user.user_id,
            active=user.active,
            gmail_cursor=state.gmail_cursor if state else None,
            calendar_cursor=state.calendar_cursor if state else None,
            last_synced_at=state.last_synced_at if state else None,
        )

    @activity.defn(name="signals_ingest_gmail")
    async def ingest_gmail(self, input: IngestSourceInput) -> IngestSourceResult:
        """New inbox messages since the history id (a full resync when it expired) into work items."""
        user, rules = await self._rules(input.user_id)
        gmail = self._services.gmail
        full = input.cursor is None
        if not full:
            try:
                history = await gmail.list_history(user.mailbox, input.cursor or "")
                refs, cursor = history.added, history.history_id
            except SyncCursorExpiredError:
                activity.logger.info("gmail history of %s expired: full resync", input.user_id)
                full = True
        if full:
            # The cursor is taken first: whatever arrives while we list is fetched next time.
            cursor = await gmail.start_history_id(user.mailbox)
            refs = await gmail.list_messages(user.mailbox, limit=input.full_sync_limit)
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        activity.heartbeat("listed")

        async def fetch(message_id: str) -> GmailMessage | None:
            async with limit:
                activity.heartbeat("fetching")  # alive while a long fetch runs (heartbeat_timeout)
                try:
                    return await gmail.get_message(user.mailbox, message_id)
                except PermanentIntegrationError as err:
                    if err.status != 404:
                        raise
                    # Listed, then deleted before we got to it: nothing to ingest, not a failure
                    # (failing would keep the cursor, and every later run would fail on it again).
                    activity.logger.info("gmail message %s of %s is gone (404): skipped", message_id, input.user_id)
                    return None

        fetched = await asyncio.gather(*(fetch(ref.id) for ref in refs))
        messages = [m for m in fetched if m is not None]
        signals = [_from_message(m) for m in messages if _is_incoming(m)]
        counts = await self._persist(
            user,
            rules,
            signals,
            self._state.move_cursor(
                user.user_id, "gmail", cursor=cursor, read=input.cursor, bootstrapped_at=_now() if full else None
            ),
        )
        return IngestSourceResult(
            source="gmail",
            fetched=len(messages),
            gone=len(fetched) - len(messages),
            full_resync=full and input.cursor is not None,
            cursor=cursor,
            **counts,
        )

    @activity.defn(name="signals_ingest_calendar")
    async def ingest_calendar(self, input: IngestSourceInput) -> IngestSourceResult:
        """Events changed since the sync token (a full resync when it expired) into work items."""
        user, rules = await self._rules(input.user_id)
        calendar = self._services.calendar
        full = input.cursor is None
        activity.heartbeat("fetching")
        try:
            sync = await calendar.list_events(user.calendar_id, sync_token=input.cursor)
        except SyncCursorExpiredError:
            activity.logger.info("calendar sync token of %s expired: full resync", input.user_id)
            full = True
            sync = await calendar.list_events(user.calendar_id)
        activity.heartbeat("fetched")
        signals = [_from_event(e, user.calendar_id) for e in sync.events if _is_foreign(e)]
        cursor = sync.next_sync_token
        counts = await self._persist(
            user,
            rules,
            signals,
            self._state.move_cursor(
                user.user_id, "calendar", cursor=cursor, read=input.cursor, bootstrapped_at=_now() if full else None
            ),
        )
        return IngestSourceResult(
            source="calendar",
            fetched=len(sync.events),
            full_resync=full and input.cursor is not None,
            cursor=cursor,
            **counts,
        )

    @activity.defn(name="signals_finish_ingestion")
    async def finish_ingestion(self, input: FinishIngestionInput) -> None:
        """Record the run's outcome: the time of a success, or the error (cursors untouched)."""
        async with unit_of_work(self._sessions) as session:
            if input.error is None:
                await self._state.record_success(input.user_id, session=session, at=input.synced_at)
            else:
                await self._state.record_error(input.user_id, input.error, session=session, at=input.synced_at)

    @activity.defn(name="signals_delete_old_runs")
    async def delete_old_runs(self, input: DeleteOldRunsInput) -> DeleteOldRunsResult:
        """Delete run log events and runs older than the cutoff, all in one transaction."""
        async with unit_of_work(self._sessions) as session:
            events, runs = await self._runs.prune_before(input.cutoff, session=session)
        activity.logger.info("pruned %d run log events and %d runs before %s", events, runs, input.cutoff)
        return DeleteOldRunsResult(events_deleted=events, runs_deleted=runs)

    # helpers ----------------------------------------------------------------------------------

    async def _persist(
        self, user: SignalUser, rules: UserRules, signals: list[Signal], move_cursor: Executable
    ) -> dict[str, int]:
        """One transaction per signal needing action, in chunks; the cursor goes with the last one."""
        info = activity.info()
        now = _now()
        records = []
        not_actionable = 0
        # Oldest first: the order they happened in, whatever order the source listed them.
        for signal in sorted(signals, key=lambda s: s.occurred_at or now):
            assessment = assess(signal, rules, now)
            if assessment.needs_action:
                records.append(signal_record(user.user_id, signal, assessment))
            else:
                not_actionable += 1
        stored: list[StoredSignal | None] = []
        chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            stored += await self._store.persist_all(
                chunk,
                workflow_id=info.workflow_id,
                workflow_run_id=info.workflow_run_id,
                with_last=move_cursor if number == len(chunks) else None,
            )
            activity.heartbeat(len(stored))
        changed = sum(1 for result in stored if result is not None)
        return {"stored": changed, "unchanged": len(stored) - changed, "not_actionable": not_actionable}

    async def _rules(self, user_id: str) -> tuple[SignalUser, UserRules]:
        async with self._sessions() as session:
            user = await self._user(session, user_id)
        return user, UserRules(
            mailbox=user.mailbox,
            watch_keywords=user.watch_keywords,
            sender_scores=user.sender_scores,
            config=GateConfig.model_validate(user.gate_config),
        )

    async def _user(self, session: AsyncSession, user_id: str) -> SignalUser:
        user = await self._users.find_by_id(user_id, session=session)
        if user is None:
            raise NotFoundError(f"no signal user {user_id!r}: register it with `intake ingest user-add`")
        return user


def _now() -> datetime:
    return datetime.now(UTC)


def signal_record(user_id: str, signal: Signal, assessment: Assessment) -> SignalRecord:
    """What `SignalStore.persist_all` writes for a signal and its assessment."""
    passed = [g.gate for g in assessment.gates if g.passed]
    return SignalRecord(
        user_id=user_id,
        source=signal.source,
        source_id=signal.source_id,
        thread_id=signal.thread_id,
        actor=signal.actor,
        summary=signal.title or "(no subject)",
        context=signal.body,
        preview=" ".join(signal.body.split())[:200],
        intent=assessment.intent,
        importance_tier=assessment.importance_tier,
        importance_score=assessment.importance_score,
        occurred_at=signal.occurred_at,
        content_hash=signal.content_hash(),
        action_type=assessment.intent,
        action_payload=assessment.action_payload,
        gates=[g.model_dump() for g in assessment.gates],
        events=[
            {"kind": "signal_received", "payload": {"source": signal.source, "source_id": signal.source_id}},
            {"kind": "gates_evaluated", "payload": {"passed": passed, "importance_score": assessment.importance_score}},
            {"kind": "action_proposed", "payload": {"action_type": assessment.intent}},
        ],
    )


def _is_incoming(message: GmailMessage) -> bool:
    labels = set(message.label_ids)
    return "INBOX" in labels and not labels & {"DRAFT", "SENT"}


def _is_foreign(event: CalendarEvent) -> bool:
    """Events someone else made: not cancelled, and not one an approval of ours created."""
    return event.status != "cancelled" and INTAKE_EVENT_MARKER not in event.description


def _from_message(message: GmailMessage) -> Signal:
    return Signal(
        source="gmail",
        source_id=message.id,
        thread_id=message.thread_id,
        actor=message.sender,
        title=message.subject,
        body=message.body_text or message.snippet,
        occurred_at=message.received_at,
    )


def _from_event(event: CalendarEvent, calendar_id: str) -> Signal:
    others = [a for a in event.attendees if a != calendar_id]
    return Signal(
        source="calendar",
        source_id=event.id,
        actor=others[0] if others else calendar_id,
        title=event.summary,
        body=event.description,
        occurred_at=event.updated,
        starts_at=event.start,
        ends_at=event.end,
        attendees=event.attendees,
    )
