"""The webhook inbox (client/webhook_inbox.py): an acknowledged event is durable before Temporal sees
it, and its thread's workflow is started exactly once, through a Temporal outage, a starter killed
between its start and its commit, and a row written again after its retention. Real app, real
PostgreSQL, real Temporal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from client.webhook_inbox import InboxStarter, InboxWriter, wait_for_run
from client.webhooks import link_source
from contracts.discussions import discussion_workflow_id
from core.settings import Settings
from db.models.webhooks import WebhookInboxEntry
from db.repositories.webhooks import WebhookInboxRepository
from db.uow import unit_of_work
from stack.processes import free_port
from tests.test_webhooks_slack import WORKSPACE, deliver, mention, runs_of


@pytest.fixture
async def linked(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    await link_source(sessions, team_id=team, source_type="slack", external_id=WORKSPACE)
    return team


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookInboxEntry]:
    async with sessions() as session:
        return list((await session.scalars(select(WebhookInboxEntry).order_by(WebhookInboxEntry.id))).all())


def starter(sessions: async_sessionmaker[AsyncSession], client: Client, settings: Settings) -> InboxStarter:
    return InboxStarter(sessions, client, task_queue=settings.task_queue, concurrency=4, retention=timedelta(days=1))


def inbox_row(team: str, thread_ts: str) -> dict[str, Any]:
    thread = f"C123ABC456:{thread_ts}"
    return {
        "workflow_id": discussion_workflow_id(team, "slack", thread),
        "team_id": team,
        "source_type": "slack",
        "source_thread_id": thread,
        "input": {"team_id": team, "source_type": "slack", "source_thread_id": thread},
    }


async def test_an_event_is_accepted_while_temporal_is_away_and_started_once_it_answers(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], client: Client, linked: str
) -> None:
    away = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    app = create_app(away)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://away") as http:
            answer = await deliver(http, mention())
            assert (answer.status_code, answer.json()["outcome"]) == (200, "accepted")
            for _ in range(100):  # the starter's first attempt fails and says why
                (row,) = await rows(sessions)
                if row.attempts:
                    break
                await asyncio.sleep(0.05)
            assert (row.state, row.attempts, row.run_id) == ("pending", 1, None)
            assert row.last_error is not None and "connect" in row.last_error
            metrics = (await http.get("/metrics")).text
            assert "intake_webhook_inbox_pending 1.0" in metrics
            assert "intake_webhook_inbox_retrying 1.0" in metrics

    # Temporal answers (here: the API restarts with it reachable): the row's next attempt starts the run.
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        run_id = await wait_for_run(client, answer.json()["workflow_id"])
    (row,) = await rows(sessions)
    assert (row.state, row.attempts, row.run_id, row.last_error) == ("started", 2, run_id, None)
    assert await runs_of(client, row.workflow_id) == [run_id]


async def test_a_starter_killed_between_its_starts_and_its_commit_starts_nothing_twice(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], client: Client, team: str
) -> None:
    woken: list[bool] = []
    writer = InboxWriter(sessions, on_new=lambda: woken.append(True))
    accepted = await asyncio.gather(*(writer.accept(inbox_row(team, f"151544{i:04d}.000100")) for i in range(5)))
    assert accepted == [True] * 5 and woken
    # The same threads again (a redelivery), all at once: one row each.
    again = await asyncio.gather(*(writer.accept(inbox_row(team, f"151544{i:04d}.000100")) for i in range(5)))
    assert again == [False] * 5

    class Killed(Exception):
        pass

    class DiesBeforeCommit(WebhookInboxRepository):
        async def settle(self, settled: Any, *, session: AsyncSession) -> None:
            raise Killed  # the process is gone: the claim's transaction never commits

    doomed = starter(sessions, client, settings)
    doomed._repository = DiesBeforeCommit()
    with pytest.raises(Killed):
        await doomed.drain_once()
    pending = await rows(sessions)
    assert [r.state for r in pending] == ["pending"] * 5
    first_runs = {r.workflow_id: (await runs_of(client, r.workflow_id)) for r in pending}
    assert all(len(runs) == 1 for runs in first_runs.values())  # Temporal did start them

    # The next starter claims the rows again; Temporal answers with the runs already there.
    assert await starter(sessions, client, settings).drain_once() == 5
    for row in await rows(sessions):
        assert row.state == "started"
        assert [row.run_id] == first_runs[row.workflow_id] == await runs_of(client, row.workflow_id)
    assert await starter(sessions, client, settings).drain_once() == 0


async def test_a_thread_written_again_after_its_retention_does_not_start_a_second_run(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], client: Client, team: str
) -> None:
    writer = InboxWriter(sessions, on_new=lambda: None)
    row = inbox_row(team, "1515449999.000100")
    assert await writer.accept(row)
    assert await starter(sessions, client, settings).drain_once() == 1
    (started,) = await rows(sessions)
    await client.get_workflow_handle(row["workflow_id"]).terminate("the thread's run is over")

    async with unit_of_work(sessions) as session:  # the retention sweep, with a retention of zero
        assert await WebhookInboxRepository().prune(timedelta(0), session=session) == 1
    assert await rows(sessions) == []
    assert await writer.accept(row)  # new to the inbox again
    assert await starter(sessions, client, settings).drain_once() == 1
    (again,) = await rows(sessions)
    assert (again.state, again.run_id) == ("existing", None)
    assert await runs_of(client, row["workflow_id"]) == [started.run_id]


async def test_a_starter_holding_back_for_a_flood_of_acks_still_starts_every_row(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], client: Client, team: str
) -> None:
    """Acks first, but never starved: with events arriving all the time (quiet for 0 s), the
    starter still claims once per MAX_YIELD_SECONDS and starts every row."""

    class Flooded(InboxStarter):
        MAX_YIELD_SECONDS = 0.2

    flooded = Flooded(
        sessions,
        client,
        task_queue=settings.task_queue,
        concurrency=4,
        retention=timedelta(days=1),
        quiet_for=lambda: 0.0,
    )
    writer = InboxWriter(sessions, on_new=flooded.wake)
    threads = [f"151545{i:04d}.000100" for i in range(3)]
    assert await asyncio.gather(*(writer.accept(inbox_row(team, ts)) for ts in threads)) == [True] * 3
    running = asyncio.create_task(flooded.run())
    try:
        for ts in threads:
            await wait_for_run(client, inbox_row(team, ts)["workflow_id"], within=10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert [r.state for r in await rows(sessions)] == ["started"] * 3
