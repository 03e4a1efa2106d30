"""Dashboard reads of the signal pipeline: approval queue, drafts, processed items.

Read-only; used by the CLI now and by the API later. Rows come back as plain dicts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.signals import CalendarEventRecord, GmailDraft, ProposedAction, WorkItem


async def approval_queue(*, session: AsyncSession, user_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Work items awaiting approval with their pending action, most important first."""
    stmt = (
        select(
            WorkItem.id,
            WorkItem.user_id,
            WorkItem.source,
            WorkItem.actor,
            WorkItem.summary,
            WorkItem.importance_tier,
            WorkItem.importance_score,
            WorkItem.updated_at,
            ProposedAction.id.label("action_id"),
            ProposedAction.action_type,
            ProposedAction.payload,
        )
        .join(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(WorkItem.status == "awaiting_approval", ProposedAction.status == "pending")
        .order_by(WorkItem.importance_score.desc(), WorkItem.updated_at.desc(), WorkItem.id)
        .limit(limit)
    )
    if user_id is not None:
        stmt = stmt.where(WorkItem.user_id == user_id)
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def drafts(*, session: AsyncSession, user_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Gmail drafts and Calendar events that approvals made, newest first."""
    made = [
        select(
            WorkItem.id.label("work_item_id"),
            WorkItem.user_id,
            WorkItem.summary,
            ProposedAction.id.label("action_id"),
            ProposedAction.action_type,
            provider_id.label("provider_id"),
            table.synced_at,
        )
        .join(ProposedAction, ProposedAction.id == table.action_id)
        .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
        .where(*([WorkItem.user_id == user_id] if user_id is not None else []))
        for table, provider_id in (
            (GmailDraft, GmailDraft.provider_draft_id),
            (CalendarEventRecord, CalendarEventRecord.provider_event_id),
        )
    ]
    both = union_all(*made).subquery()
    stmt = select(both).order_by(both.c.synced_at.desc(), both.c.action_id).limit(limit)
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def processed(*, session: AsyncSession, user_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Work items the user decided (completed or dismissed), most recently decided first."""
    stmt = (
        select(
            WorkItem.id,
            WorkItem.user_id,
            WorkItem.summary,
            WorkItem.status,
            WorkItem.completed_at,
            WorkItem.updated_at,
            ProposedAction.id.label("action_id"),
            ProposedAction.action_type,
            ProposedAction.status.label("action_status"),
        )
        .outerjoin(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
        .where(WorkItem.status.in_(("completed", "dismissed")))
        .order_by(WorkItem.completed_at.desc().nulls_last(), WorkItem.id)
        .limit(limit)
    )
    if user_id is not None:
        stmt = stmt.where(WorkItem.user_id == user_id)
    return [dict(row._mapping) for row in await session.execute(stmt)]
