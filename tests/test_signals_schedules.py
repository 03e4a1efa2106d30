"""Schedules of signal ingestion: one per active user every 5 minutes (overlap skip), and the daily prune."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from client.schedules import ScheduleOptions, apply_schedules, describe
from client.signals import active_users, register_user
from db.models.signals import IngestionState
from db.repository import Repository
from sandbox.control import SandboxControl
from workflows.search_attributes import USER_ID


async def test_apply_makes_one_ingestion_schedule_per_active_user_and_it_ingests(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    alice, bob, gone = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("alice", "bob", "gone"))
    await register_user(sessions, user_id=alice, mailbox="alice@example.com")
    await register_user(sessions, user_id=bob, mailbox="bob@example.com")
    await register_user(sessions, user_id=gone, mailbox="ops@example.com", active=False)
    users = await active_users(sessions)
    assert sorted(users) == sorted([alice, bob])

    options = ScheduleOptions(task_queue=task_queue, signal_users=tuple(users))
    applied = await apply_schedules(client, options)
    try:
        assert {f"ingest-signals/{alice}", f"ingest-signals/{bob}", "prune-run-log"} <= set(applied)
        assert f"ingest-signals/{gone}" not in applied
        again = await apply_schedules(client, options)
        assert set(again.values()) == {"updated"}

        handle = client.get_schedule_handle(f"ingest-signals/{alice}")
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=5)
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "IngestSignalsWorkflow"
        assert action.typed_search_attributes.get(USER_ID) == alice
        assert "every 5 minutes" in describe(f"ingest-signals/{alice}")
        prune = await client.get_schedule_handle("prune-run-log").describe()
        assert prune.schedule.spec.intervals[0].every == timedelta(days=1)

        async with make_worker():
            await handle.trigger()
            for _ in range(100):
                async with sessions() as session:
                    state = await Repository(IngestionState).find_by_id(alice, session=session)
                if state is not None and state.last_synced_at is not None:
                    break
                await asyncio.sleep(0.2)
        assert state is not None and state.last_synced_at is not None and state.gmail_cursor
    finally:
        for schedule_id in applied:
            await client.get_schedule_handle(schedule_id).delete()
