"""The webhook inbox: how a Slack or Figma event is acknowledged at once and started exactly once.

The ack path does one thing that can be slow, and it is not Temporal: it writes the
event's row (the thread's workflow id and the DiscussionInput) into `webhook_inbox`, and
answers once that row is committed. Rows from requests arriving together are committed
together (`InboxWriter`: while one INSERT is in flight, the next requests queue behind it
and go in the next one), so a burst costs a few transactions, not one per event.

`InboxStarter`, a task of every API process, starts the workflows: it claims pending rows
(`FOR UPDATE SKIP LOCKED`, so API processes never share a row), starts each thread's
DiscussionWorkflow by its workflow id (a few at a time), and marks the row `started` with
the run id, in the same transaction as the claim. Acks come first: while events keep
arriving the starter holds back (up to a second between claims), so a burst is answered
at full speed and its starts follow it. A process killed between the start and
that commit leaves the row pending; the next claim starts it again and Temporal answers
with the run already there (USE_EXISTING), or refuses a completed one (`existing`): one
run per thread either way. A start that fails (Temporal away) is tried again with a
growing delay, and the row says why meanwhile (`intake webhooks inbox`).

Dedupe is by the thread's workflow id twice over: the inbox keeps one row per workflow id
(a redelivery, Slack's double delivery, a second mention: `duplicate`), and Temporal keeps
one run per workflow id. Settled rows are deleted after `INTAKE_WEBHOOK_INBOX_RETENTION_DAYS`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from client.discussions import start_discussion
from contracts.discussions import DiscussionInput
from core.errors import ConflictError
from db.models.webhooks import WebhookInboxEntry
from db.repositories.webhooks import InboxClaim, InboxSummary, WebhookInboxRepository
from db.uow import unit_of_work

log = logging.getLogger("api.webhooks.inbox")


class InboxWriter:
    """Commits inbox rows for concurrent requests in shared transactions (group commit).

    `accept(row)` returns once the row is durable: True when its workflow id is new to the
    inbox, False when a row for it was already there (or earlier in the same batch). Raises
    what the database raised, for every row of a batch that could not be committed.
    """

    MAX_BATCH = 500

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, on_new: Callable[[], None]) -> None:
        self._sessions = sessions
        self._on_new = on_new
        self._queue: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._repository = WebhookInboxRepository()
        self._last_accept = float("-inf")

    def quiet_for(self) -> float:
        """Seconds since the last event was handed to the writer (the starter yields to a burst)."""
        return time.monotonic() - self._last_accept

    async def accept(self, row: dict[str, Any]) -> bool:
        self._last_accept = time.monotonic()
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="webhook-inbox-writer")
        # shield: a client hanging up must not cancel the commit other requests share.
        return await asyncio.shield(done)

    async def close(self) -> None:
        """Wait for the rows already queued to be committed (at shutdown)."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
            unique = list({row["workflow_id"]: row for row, _ in reversed(batch)}.values())
            try:
                async with unit_of_work(self._sessions) as session:
                    new = await self._repository.accept(unique, session=session)
            except Exception as err:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(err)
                continue
            for row, done in batch:
                workflow_id = row["workflow_id"]
                if not done.done():
                    done.set_result(workflow_id in new)
                new.discard(workflow_id)  # a second row of the same thread in this batch is a duplicate
            self._on_new()


class InboxStarter:
    """Starts the workflows of pending inbox rows; one per API process (see the module's docstring)."""

    CLAIM = 25
    POLL_SECONDS = 1.0
    MAX_DELAY_SECONDS = 300.0
    PRUNE_EVERY_SECONDS = 3600.0
    # Acks first: while events are arriving (one in the last QUIET_SECONDS), the starter waits
    # before each claim, up to MAX_YIELD_SECONDS, so a burst is answered at full speed and its
    # starts follow; it still claims at least CLAIM rows a MAX_YIELD_SECONDS under a steady flood.
    QUIET_SECONDS = 0.05
    MAX_YIELD_SECONDS = 1.0

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        *,
        task_queue: str,
        concurrency: int,
        retention: timedelta,
        quiet_for: Callable[[], float] | None = None,
    ) -> None:
        self._sessions = sessions
        self._quiet_for = quiet_for
        self._client = client
        self._task_queue = task_queue
        self._gate = asyncio.Semaphore(concurrency)
        self._retention = retention
        self._wake = asyncio.Event()
        self._repository = WebhookInboxRepository()
        self._pruned_at = 0.0

    def wake(self) -> None:
        """New rows are committed: drain now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Drain, then wait for a wake-up or the next poll (rows of other processes, retries due); forever."""
        failures = 0
        while True:
            self._wake.clear()
            try:
                await self._yield_to_acks()
                while await self.drain_once():
                    await self._yield_to_acks()
                if time.monotonic() - self._pruned_at > self.PRUNE_EVERY_SECONDS:
                    await self.prune()
                failures = 0
            except Exception as err:  # the database is away: keep the loop, say so, back off
                failures += 1
                log.warning("webhook inbox starter: %s: %s", type(err).__name__, err)
                await asyncio.sleep(min(self.POLL_SECONDS * 2**failures, 30.0))
            try:
                await asyncio.wait_for(self._wake.wait(), self.POLL_SECONDS)
            except TimeoutError:
                pass

    async def _yield_to_acks(self) -> None:
        if self._quiet_for is None:
            return
        waited = 0.0
        while self._quiet_for() < self.QUIET_SECONDS and waited < self.MAX_YIELD_SECONDS:
            await asyncio.sleep(self.QUIET_SECONDS)
            waited += self.QUIET_SECONDS

    async def drain_once(self) -> int:
        """Claim one batch of due rows, start their workflows, settle the rows; how many were claimed."""
        async with unit_of_work(self._sessions) as session:
            entries = await self._repository.claim(self.CLAIM, session=session)
            if not entries:
                return 0
            outcomes = await asyncio.gather(*(self._start(entry) for entry in entries))
            settled, postponed = [], []
            for entry, (state, detail) in zip(entries, outcomes, strict=True):
                if state == "pending":
                    delay = min(2.0**entry.attempts, self.MAX_DELAY_SECONDS)
                    postponed.append((entry.id, detail or "", delay))
                else:
                    settled.append((entry.id, state, detail))
            await self._repository.settle(settled, session=session)
            await self._repository.postpone(postponed, session=session)
        return len(entries)

    async def _start(self, entry: InboxClaim) -> tuple[str, str | None]:
        """('started', run id), ('existing', None) when the thread's run has completed already, or
        ('pending', why) when Temporal did not take the start now."""
        async with self._gate:
            try:
                payload = DiscussionInput.model_validate(entry.input)
                handle = await start_discussion(self._client, payload, task_queue=self._task_queue)
            except ConflictError:
                return "existing", None
            except Exception as err:
                log.warning(
                    "webhook inbox: starting %s failed (attempt %d), tried again later: %s: %s",
                    entry.workflow_id,
                    entry.attempts + 1,
                    type(err).__name__,
                    err,
                )
                return "pending", f"{type(err).__name__}: {err}"
        log.info("webhook inbox: started %s (run %s)", entry.workflow_id, handle.result_run_id)
        return "started", handle.result_run_id

    async def prune(self) -> int:
        async with unit_of_work(self._sessions) as session:
            gone = await self._repository.prune(self._retention, session=session)
        self._pruned_at = time.monotonic()
        if gone:
            log.info("webhook inbox: %d settled rows older than %s deleted", gone, self._retention)
        return gone


async def inbox_summary(sessions: async_sessionmaker[AsyncSession]) -> InboxSummary:
    async with sessions() as session:
        return await WebhookInboxRepository().summary(session=session)


async def inbox_report(
    sessions: async_sessionmaker[AsyncSession], *, limit: int = 20
) -> tuple[InboxSummary, list[WebhookInboxEntry]]:
    """The inbox's summary and its oldest pending rows (`intake webhooks inbox`)."""
    async with sessions() as session:
        repository = WebhookInboxRepository()
        return await repository.summary(session=session), await repository.pending(limit, session=session)


async def wait_for_run(client: Client, workflow_id: str, *, within: float = 30.0) -> str:
    """The run id of an accepted thread's workflow once a starter has started it (the demo and
    the tests wait on it); TimeoutError naming the workflow when it is not started in time."""
    deadline = time.monotonic() + within
    while True:
        try:
            return (await client.get_workflow_handle(workflow_id).describe()).run_id
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"workflow {workflow_id} was not started from the webhook inbox within {within:.0f} s")
        await asyncio.sleep(0.05)
