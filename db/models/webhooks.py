"""Inbound webhooks that keep state of their own: Notion integrations and the events they sent.

A Notion subscription proves itself once, by POSTing a `verification_token` to its URL;
that token then signs every event (`X-Notion-Signature`), so it is kept on the
integration's row. Each verified event is recorded once (unique per integration and
Notion's event id), for the pipelines that act on Notion events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TimestampMixin, uuid_pk
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
