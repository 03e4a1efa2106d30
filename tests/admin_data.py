"""Rows for the admin API's tests, written straight to the tables (reads need no pipeline run)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models.discussions import Discussion, Job
from db.models.signals import AuditLog, ProposedAction, WorkItem
from db.models.work_orders import ExportJob, WorkOrder
from db.repositories.work_orders import WorkspaceRepository
from db.uow import unit_of_work


async def add_discussions(
    sessions: async_sessionmaker[AsyncSession], team: str, n: int, *, status: str = "completed"
) -> list[uuid.UUID]:
    """`n` discussions of `team`, each with one job; returns the discussion ids."""
    ids = []
    async with unit_of_work(sessions) as session:
        for i in range(n):
            discussion = Discussion(
                team_id=team,
                source_type="slack" if i % 2 else "figma",
                source_thread_id=f"C{i}:{uuid.uuid4().hex[:6]}",
                title=f"thread {i}",
                content="text",
                status=status,
            )
            session.add(discussion)
            await session.flush()
            session.add(
                Job(
                    team_id=team,
                    source_type=discussion.source_type,
                    status=status,
                    stage="notification" if status == "completed" else "task_creation",
                    discussion_id=discussion.id,
                    workflow_id=f"wf-{discussion.id}",
                    workflow_run_id=str(uuid.uuid4()),
                    error="boom" if status == "failed" else None,
                    error_stack="Traceback ..." if status == "failed" else None,
                )
            )
            ids.append(discussion.id)
    return ids


async def add_work_items(sessions: async_sessionmaker[AsyncSession], user: str, n: int) -> list[uuid.UUID]:
    """`n` work items of `user` awaiting approval (same score: the keyset's later columns decide), with actions."""
    actions = []
    async with unit_of_work(sessions) as session:
        for i in range(n):
            item = WorkItem(
                user_id=user,
                source="tool",
                source_id=f"call-{i}",
                actor="someone@example.com",
                summary=f"item {i}",
                context="",
                preview="",
                intent="draft_reply",
                importance_tier="important",
                importance_score=50 if i % 3 else 80,
                content_hash="h",
            )
            session.add(item)
            await session.flush()
            action = ProposedAction(
                work_item_id=item.id,
                action_type="draft_reply",
                payload={"to": "someone@example.com", "subject": "s", "body": "b"},
            )
            session.add(action)
            session.add(
                AuditLog(user_id=user, action="work_item.queued", target_type="work_item", target_id=str(item.id))
            )
            await session.flush()
            actions.append(action.id)
    return actions


async def add_work_orders(
    sessions: async_sessionmaker[AsyncSession], slug: str, team: str | None, n: int, *, failed: int = 1
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """A workspace of `team` with `n` work orders, each with an export job (the first `failed` FAILED);
    returns the work order ids and the export job ids."""
    orders, jobs = [], []
    async with unit_of_work(sessions) as session:
        workspace, _ = await WorkspaceRepository().get_or_create(session=session, slug=slug, team_id=team)
        for i in range(n):
            wo = WorkOrder(workspace_id=workspace.id, work_order_number=f"WO-{i}")
            session.add(wo)
            await session.flush()
            job = ExportJob(
                workspace_id=workspace.id,
                kind="WORK_ORDER",
                work_order_id=wo.id,
                status="FAILED" if i < failed else "DONE",
            )
            session.add(job)
            await session.flush()
            orders.append(wo.id)
            jobs.append(job.id)
    return orders, jobs


async def walk(read: Any, limit: int, **filters: Any) -> list[Any]:
    """Every item of a list, page by page; asserts no page is larger than `limit`."""
    items: list[Any] = []
    cursor = None
    while True:
        page = await read(limit=limit, cursor=cursor, **filters)
        assert len(page.items) <= limit
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
