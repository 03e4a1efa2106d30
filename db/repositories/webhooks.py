"""Queries of the inbound webhooks: which team a webhook's id maps to, Notion integrations and events,
the inbox of events waiting for their thread's pipeline to start."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Float, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ConflictError
from db.base import table_of
from db.models.discussions import SourceConfig
from db.models.webhooks import NotionEvent, NotionIntegration, WebhookInboxEntry
from db.repository import Repository


@dataclass(frozen=True)
class MappedSource:
    """The live source config a webhook's id names: its team, and whether it is enabled."""

    config_id: uuid.UUID
    team_id: str
    enabled: bool


class WebhookMappingRepository:
    """source_configs.external_id: a Slack workspace id or a Figma webhook id -> the team's config."""

    async def find(self, source_type: str, external_id: str, *, session: AsyncSession) -> MappedSource | None:
        """One indexed read (the partial unique index on source_type, external_id)."""
        row = (
            await session.execute(
                select(SourceConfig.id, SourceConfig.team_id, SourceConfig.enabled).where(
                    SourceConfig.source_type == source_type,
                    SourceConfig.external_id == external_id,
                    SourceConfig.deleted_at.is_(None),
                )
            )
        ).first()
        return MappedSource(config_id=row[0], team_id=row[1], enabled=row[2]) if row is not None else None

    async def link(
        self, *, session: AsyncSession, team_id: str, source_type: str, external_id: str
    ) -> uuid.UUID | None:
        """Set the external id of the team's live config for the source; its id, or None without one.

        ConflictError when another team's live config already has that id."""
        try:
            async with session.begin_nested():
                return await session.scalar(
                    update(SourceConfig)
                    .where(
                        SourceConfig.team_id == team_id,
                        SourceConfig.source_type == source_type,
                        SourceConfig.deleted_at.is_(None),
                    )
                    .values(external_id=external_id, updated_at=func.now())
                    .returning(SourceConfig.id)
                )
        except IntegrityError:
            raise ConflictError(
                f"{source_type} id {external_id!r} is already linked to another team's source config"
            ) from None


class NotionIntegrationRepository(Repository[NotionIntegration]):
    def __init__(self) -> None:
        super().__init__(NotionIntegration)

    async def store_token(
        self, integration_id: uuid.UUID, token: str, *, session: AsyncSession
    ) -> NotionIntegration | None:
        """Keep the verification token on an integration that has none yet; the row when it was
        stored, None when the integration already had a token (or does not exist)."""
        return await session.scalar(
            update(NotionIntegration)
            .where(NotionIntegration.id == integration_id, NotionIntegration.verification_token.is_(None))
            .values(verification_token=token, token_received_at=func.now(), updated_at=func.now())
            .returning(NotionIntegration)
        )

    async def forget_token(self, integration_id: uuid.UUID, *, session: AsyncSession) -> bool:
        """Drop the stored token (the subscription was recreated in Notion and will send a new one)."""
        result = await session.execute(
            update(NotionIntegration)
            .where(NotionIntegration.id == integration_id)
            .values(verification_token=None, token_received_at=None, updated_at=func.now())
            .returning(NotionIntegration.id)
        )
        return result.first() is not None


class NotionEventRepository(Repository[NotionEvent]):
    def __init__(self) -> None:
        super().__init__(NotionEvent)

    async def record(
        self,
        *,
        session: AsyncSession,
        integration_id: uuid.UUID,
        team_id: str,
        event_id: str,
        event_type: str,
        entity_id: str | None,
        entity_type: str | None,
        attempt_number: int | None,
        payload: dict[str, Any],
    ) -> tuple[uuid.UUID, bool]:
        """Record the event once: (its row id, True) when new, (the earlier row's id, False) on redelivery."""
        inserted = await session.scalar(
            insert(table_of(NotionEvent))
            .values(
                integration_id=integration_id,
                team_id=team_id,
                event_id=event_id,
                event_type=event_type,
                entity_id=entity_id,
                entity_type=entity_type,
                attempt_number=attempt_number,
                payload=payload,
            )
            .on_conflict_do_nothing(index_elements=["integration_id", "event_id"])
            .returning(table_of(NotionEvent).c.id)
        )
        if inserted is not None:
            return inserted, True
        earlier = await session.scalar(
            select(NotionEvent.id).where(NotionEvent.integration_id == integration_id, NotionEvent.event_id == event_id)
        )
        assert earlier is not None  # the conflict was on this very key
        return earlier, False

    async def for_integration(self, integration_id: uuid.UUID, *, session: AsyncSession) -> list[NotionEvent]:
        return await self.find_many(
            session=session, integration_id=integration_id, order_by=[NotionEvent.received_at, NotionEvent.id]
        )


@dataclass(frozen=True)
class InboxSummary:
    """The inbox at a glance: for `intake webhooks inbox` and the API's /metrics."""

    pending: int
    retrying: int  # pending rows a start has already failed for
    oldest_pending_seconds: float | None
    settled: int


@dataclass(frozen=True)
class InboxClaim:
    """A pending inbox row the starter holds (locked) while it starts the row's workflow."""

    id: int
    workflow_id: str
    attempts: int
    input: dict[str, Any]


class WebhookInboxRepository(Repository[WebhookInboxEntry]):
    """webhook_inbox: written by the ack (`accept`), drained by the starter (`claim`, `settle`, `postpone`)."""

    def __init__(self) -> None:
        super().__init__(WebhookInboxEntry)

    async def accept(self, rows: Sequence[dict[str, Any]], *, session: AsyncSession) -> set[str]:
        """Insert the rows (one statement: SQLAlchemy batches an executemany with RETURNING into
        multi-row VALUES) and return the workflow ids that were new; a workflow id already in the
        inbox keeps its row untouched."""
        if not rows:
            return set()
        table = table_of(WebhookInboxEntry)
        result = await session.execute(
            insert(table).on_conflict_do_nothing(index_elements=["workflow_id"]).returning(table.c.workflow_id),
            list(rows),
        )
        return set(result.scalars())

    async def claim(self, limit: int, *, session: AsyncSession) -> list[InboxClaim]:
        """Pending rows due now, oldest first, locked until the caller's transaction ends; rows
        another starter holds are skipped, so two API processes never start the same row at once."""
        rows = await session.execute(
            select(
                WebhookInboxEntry.id, WebhookInboxEntry.workflow_id, WebhookInboxEntry.attempts, WebhookInboxEntry.input
            )
            .where(WebhookInboxEntry.state == "pending", WebhookInboxEntry.next_attempt_at <= func.now())
            .order_by(WebhookInboxEntry.next_attempt_at, WebhookInboxEntry.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [InboxClaim(*row) for row in rows]

    async def settle(self, settled: Sequence[tuple[int, str, str | None]], *, session: AsyncSession) -> None:
        """Mark claimed rows (id, state, run id) as started or existing: one statement for all."""
        if not settled:
            return
        table = table_of(WebhookInboxEntry)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("entry_id"))
            .values(
                state=bindparam("new_state"),
                run_id=bindparam("new_run_id"),
                started_at=func.now(),
                attempts=table.c.attempts + 1,
                last_error=None,
            ),
            [{"entry_id": id_, "new_state": state, "new_run_id": run_id} for id_, state, run_id in settled],
        )

    async def postpone(self, postponed: Sequence[tuple[int, str, float]], *, session: AsyncSession) -> None:
        """Claimed rows (id, error, delay in seconds) whose start failed: tried again after the delay."""
        if not postponed:
            return
        table = table_of(WebhookInboxEntry)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("entry_id"))
            .values(
                attempts=table.c.attempts + 1,
                last_error=bindparam("error"),
                next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("delay", type_=Float)),
            ),
            [{"entry_id": id_, "error": error[:2000], "delay": delay} for id_, error, delay in postponed],
        )

    async def prune(self, older_than: timedelta, *, session: AsyncSession) -> int:
        """Delete settled rows started longer ago than `older_than`; how many went."""
        result = await session.execute(
            delete(WebhookInboxEntry)
            .where(WebhookInboxEntry.state != "pending", WebhookInboxEntry.started_at < func.now() - older_than)
            .returning(WebhookInboxEntry.id)
        )
        return len(result.all())

    async def summary(self, *, session: AsyncSession) -> InboxSummary:
        pending = WebhookInboxEntry.state == "pending"
        row = (
            await session.execute(
                select(
                    func.count().filter(pending),
                    func.count().filter(pending, WebhookInboxEntry.attempts > 0),
                    func.extract("epoch", func.now() - func.min(WebhookInboxEntry.received_at).filter(pending)),
                    func.count().filter(~pending),
                )
            )
        ).one()
        return InboxSummary(
            pending=row[0],
            retrying=row[1],
            oldest_pending_seconds=float(row[2]) if row[2] is not None else None,
            settled=row[3],
        )

    async def pending(self, limit: int, *, session: AsyncSession) -> list[WebhookInboxEntry]:
        """The oldest pending rows (for `intake webhooks inbox`), without locking them."""
        return list(
            (
                await session.scalars(
                    select(WebhookInboxEntry)
                    .where(WebhookInboxEntry.state == "pending")
                    .order_by(WebhookInboxEntry.next_attempt_at, WebhookInboxEntry.id)
                    .limit(limit)
                )
            ).all()
        )
