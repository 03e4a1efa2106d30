"""Inbound webhooks that keep state of their own: Notion integrations and the events they sent,
and the inbox of Slack and Figma events waiting for their thread's pipeline to start.

A Notion subscription proves itself once, by POSTing a `verification_token` to its URL;
that token then signs every event (`X-Notion-Signature`), so it is kept on the
integration's row. Each verified event is recorded once (unique per integration and
Notion's event id), for the pipelines that act on Notion events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TimestampMixin, one_of, uuid_pk
from db.models.discussions import AuthoredMixin


class NotionIntegration(AuthoredMixin, TimestampMixin, Base):
    """One Notion webhook subscription of a team: its URL is /webhooks/notion/<id>."""

    __tablename__ = "notion_integrations"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Sent once by Notion when the subscription is created; the key of every event's signature.
    verification_token: Mapped[str | None] = mapped_column(Text)
    token_received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotionEvent(Base):
    """A verified Notion event, recorded once however often Notion delivers it."""

    __tablename__ = "notion_events"
    __table_args__ = (UniqueConstraint("integration_id", "event_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notion_integrations.id", ondelete="CASCADE"), nullable=False
    )
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    event_id: Mapped[str] = mapped_column(Text, nullable=False)
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    entity_id: Mapped[str | None] = mapped_column(Text)
    entity_type: Mapped[str | None] = mapped_column(Text)
    attempt_number: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


INBOX_STATES = ("pending", "started", "existing")


class WebhookInboxEntry(Base):
    """A Slack or Figma event that starts a thread's pipeline, kept when it is acknowledged.

    One row per thread's workflow id, however often the service delivers: the ack writes the
    row (nothing else), and the API's starter starts the workflow from it (`started`, with its
    run id; `existing` when Temporal already had a run of that id, e.g. the row was written
    again after its retention). A start Temporal refuses for now is tried again later
    (`attempts`, `next_attempt_at`, `last_error`).
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        CheckConstraint(one_of("state", INBOX_STATES), name="state"),
        UniqueConstraint("workflow_id"),
        Index("ix_webhook_inbox_pending", "next_attempt_at", "id", postgresql_where=text("state = 'pending'")),
        Index("ix_webhook_inbox_settled", "started_at", postgresql_where=text("state <> 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(Text, nullable=False)
    team_id: Mapped[str] = mapped_column(Text, nullable=False)
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    source_thread_id: Mapped[str] = mapped_column(Text, nullable=False)
    # The DiscussionInput the workflow starts with, as JSON.
    input: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[str | None] = mapped_column(Text)
