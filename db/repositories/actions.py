"""Proposed actions and what deciding them writes: drafts, calendar events, feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.signals import (
    CalendarEventRecord,
    FeedbackEntry,
    GmailDraft,
    ProposedAction,
    SignalUser,
    WorkItem,
)
from db.repository import Repository


class ActionRepository(Repository[ProposedAction]):
    def __init__(self) -> None:
        super().__init__(ProposedAction)

    async def with_item(
        self, action_id: uuid.UUID, *, session: AsyncSession, lock: bool = False
    ) -> tuple[ProposedAction, WorkItem, SignalUser] | None:
        """The action, its work item and its user; `lock` holds the action row until commit."""
        stmt = (
            select(ProposedAction, WorkItem, SignalUser)
            .join(WorkItem, WorkItem.id == ProposedAction.work_item_id)
            .join(SignalUser, SignalUser.user_id == WorkItem.user_id)
            .where(ProposedAction.id == action_id)
        )
        if lock:
            stmt = stmt.with_for_update(of=ProposedAction)
        row = (await session.execute(stmt)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def queue(
        self,
        *,
        session: AsyncSession,
        user_id: str,
        call_id: str,
        summary: str,
        context: str,
        action_type: str,
        payload: dict[str, Any],
        importance_tier: str,
        importance_score: int,
        content_hash: str,
    ) -> tuple[uuid.UUID, uuid.UUID, bool]:
        """Insert a tool call's work item and its pending action; a repeated call id inserts nothing.

        Returns (work item id, action id, inserted now).
        """
        item_id = await session.scalar(
            insert(WorkItem)
            .values(
                user_id=user_id,
                source="tool",
                source_id=call_id,
                actor=user_id,
                summary=summary,
                context=context,
                preview=context[:200],
                intent=action_type,
                importance_tier=importance_tier,
                importance_score=importance_score,
                content_hash=content_hash,
            )
            .on_conflict_do_nothing(index_elements=[WorkItem.user_id, WorkItem.source, WorkItem.source_id])
            .returning(WorkItem.id)
        )
        if item_id is None:
            existing = await session.execute(
                select(WorkItem.id, ProposedAction.id)
                .join(ProposedAction, ProposedAction.work_item_id == WorkItem.id)
                .where(WorkItem.user_id == user_id, WorkItem.source == "tool", WorkItem.source_id == call_id)
            )
            found_item, found_action = existing.one()
            return found_item, found_action, False
        action_id = await session.scalar(
            insert(ProposedAction)
            .values(work_item_id=item_id, action_type=action_type, payload=payload)
            .returning(ProposedAction.id)
        )
        assert action_id is not None
        return item_id, action_id, True


class GmailDraftRepository(Repository[GmailDraft]):
    def __init__(self) -> None:
        super().__init__(GmailDraft)

    async def upsert(
        self,
        *,
        session: AsyncSession,
        action_id: uuid.UUID,
        provider_draft_id: str,
        provider_message_id: str,
        thread_id: str | None,
    ) -> None:
        values = {
            "provider_draft_id": provider_draft_id,
            "provider_message_id": provider_message_id,
            "thread_id": thread_id,
        }
        await session.execute(
            insert(GmailDraft)
            .values(action_id=action_id, **values)
            .on_conflict_do_update(index_elements=[GmailDraft.action_id], set_={**values, "synced_at": func.now()})
        )


class CalendarEventRepository(Repository[CalendarEventRecord]):
    def __init__(self) -> None:
        super().__init__(CalendarEventRecord)

    async def upsert(
        self,
        *,
        session: AsyncSession,
        action_id: uuid.UUID,
        provider_event_id: str,
        html_link: str | None,
        starts_at: datetime,
        ends_at: datetime,
    ) -> None:
        values = {
            "provider_event_id": provider_event_id,
            "html_link": html_link,
            "starts_at": starts_at,
            "ends_at": ends_at,
        }
        await session.execute(
            insert(CalendarEventRecord)
            .values(action_id=action_id, **values)
            .on_conflict_do_update(
                index_elements=[CalendarEventRecord.action_id], set_={**values, "synced_at": func.now()}
            )
        )


class FeedbackRepository(Repository[FeedbackEntry]):
    def __init__(self) -> None:
        super().__init__(FeedbackEntry)

    async def upsert(self, *, session: AsyncSession, work_item_id: uuid.UUID, rating: str, note: str | None) -> None:
        """The work item's one feedback entry: the latest verdict replaces an earlier one."""
        await session.execute(
            insert(FeedbackEntry)
            .values(work_item_id=work_item_id, rating=rating, note=note)
            .on_conflict_do_update(
                index_elements=[FeedbackEntry.work_item_id],
                set_={"rating": rating, "note": note, "updated_at": func.now()},
            )
        )
