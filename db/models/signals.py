"""Signal ingestion and approvals: work items from Gmail / Calendar, gates, proposed
actions, the run log, the audit log and what approvals made at the providers.

Re-ingestion is an upsert: a work item is unique per (user, source, source id); a work item
has at most one proposed action, an action at most one draft or calendar event, a work item
at most one feedback entry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TimestampMixin, one_of, uuid_pk

SIGNAL_SOURCES = ("gmail", "calendar", "tool")
GATES = ("decision", "time", "relationship", "impact", "watch")
INTENTS = ("draft_reply", "schedule_event", "refund_request")
IMPORTANCE_TIERS = ("critical", "important", "later")
WORK_ITEM_STATUSES = ("awaiting_approval", "completed", "dismissed")
ACTION_STATUSES = ("pending", "executed", "dismissed")
RUN_PHASES = ("ingest", "queue", "approve", "dismiss", "feedback")
FEEDBACK_RATINGS = ("positive", "negative")

# A user's gate rules when nothing else was set: thresholds and phrases are data in the row
# (signal_users.gate_config), this is only what a new row starts with.
DEFAULT_GATE_CONFIG: dict[str, Any] = {
    "deadline_hours": 48,
    "relationship_min": 0.75,
    "impact_min": 0.7,
    "colleague_score": 0.8,  # a sender of the user's own domain, unless sender_scores says otherwise
    "default_sender_score": 0.3,
    "tiers": {"critical": 75, "important": 45},  # importance score at which each tier starts
    "decision_phrases": ["can you confirm", "decision", "decide", "approve", "should we", "do we", "?"],
    "meeting_phrases": ["meet", "schedule", "call", "30 minutes", "calendar", "invite"],
    "refund_phrases": ["refund", "charged twice", "chargeback", "money back"],
    "impact_terms": {
        "contract": 0.8,
        "refund": 0.75,
        "charged": 0.7,
        "outage": 0.9,
        "renew": 0.7,
        "customer": 0.5,
        "deadline": 0.6,
        "roadmap": 0.5,
    },
}


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _jsonb_default(sql: str) -> Any:
    return text(f"'{sql}'::jsonb")


class SignalUser(TimestampMixin, Base):
    """A person whose mailbox and calendar are ingested, with their gate rules (data, per user)."""

    __tablename__ = "signal_users"

    user_id: Mapped[str] = mapped_column(Text, primary_key=True)
    mailbox: Mapped[str] = mapped_column(Text, nullable=False)
    calendar_id: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Watched words (the watch gate) and sender scores 0-1 by address or "@domain" (relationship).
    watch_keywords: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=_jsonb_default("[]"))
    sender_scores: Mapped[dict[str, float]] = mapped_column(JSONB, nullable=False, server_default=_jsonb_default("{}"))
    gate_config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The team whose API tokens see this user's work items (none: no token does).
    team_id: Mapped[str | None] = mapped_column(Text, index=True)


class IngestionState(TimestampMixin, Base):
    """Per user: where incremental sync resumes, when it last succeeded, and its last error."""

    __tablename__ = "ingestion_state"

    user_id: Mapped[str] = mapped_column(ForeignKey("signal_users.user_id", ondelete="CASCADE"), primary_key=True)
    gmail_cursor: Mapped[str | None] = mapped_column(Text)  # a Gmail historyId
    calendar_cursor: Mapped[str | None] = mapped_column(Text)  # a Calendar syncToken
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bootstrap_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkItem(TimestampMixin, Base):
    """A signal that needs the user: what it is, why it matters, where it stands."""

    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("user_id", "source", "source_id"),
        CheckConstraint(one_of("source", SIGNAL_SOURCES), name="source"),
        CheckConstraint(one_of("intent", INTENTS), name="intent"),
        CheckConstraint(one_of("status", WORK_ITEM_STATUSES), name="status"),
        CheckConstraint(one_of("importance_tier", IMPORTANCE_TIERS), name="importance_tier"),
        CheckConstraint("importance_score BETWEEN 0 AND 100", name="importance_score"),
        Index("ix_work_items_user_status_importance", "user_id", "status", "importance_score"),
        # The approval queue in its order (most important, then newest), and the processed items
        # most recently decided first: read in order, a page stops after its rows.
        Index(
            "ix_work_items_queue",
            "importance_score",
            "updated_at",
            "id",
            postgresql_where=text("status = 'awaiting_approval'"),
        ),
        Index(
            "ix_work_items_decided",
            text("coalesce(completed_at, updated_at)"),
            "id",
            postgresql_where=text("status IN ('completed', 'dismissed')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[str] = mapped_column(ForeignKey("signal_users.user_id"), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_id: Mapped[str] = mapped_column(Text, nullable=False)
    thread_id: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    context: Mapped[str] = mapped_column(Text, nullable=False)
    preview: Mapped[str] = mapped_column(Text, nullable=False)
    intent: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="awaiting_approval")
    importance_tier: Mapped[str] = mapped_column(Text, nullable=False)
    importance_score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the signal looked like when stored: re-ingesting an unchanged signal writes nothing.
    content_hash: Mapped[str] = mapped_column(Text, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GateEvaluation(Base):
    """One gate's verdict on a work item: passed or not, a score 0-10 and the reason."""

    __tablename__ = "gate_evaluations"
    __table_args__ = (
        CheckConstraint(one_of("gate", GATES), name="gate"),
        CheckConstraint("score BETWEEN 0 AND 10", name="score"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    work_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    gate: Mapped[str] = mapped_column(Text, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created_at()


class ProposedAction(TimestampMixin, Base):
    """What intake proposes to do about a work item (a draft reply, an event); one per item."""

    __tablename__ = "proposed_actions"
    __table_args__ = (
        CheckConstraint(one_of("action_type", INTENTS), name="action_type"),
        CheckConstraint(one_of("status", ACTION_STATUSES), name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    work_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    action_type: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # What executing it produced (provider ids ...), returned again to a repeated approval.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkflowRun(Base):
    """The run log: one row per pipeline step that touched a work item (ingest, approve, ...)."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        CheckConstraint(one_of("phase", RUN_PHASES), name="phase"),
        CheckConstraint("status IN ('completed')", name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    work_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    phase: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="completed")
    workflow_id: Mapped[str | None] = mapped_column(Text)
    workflow_run_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class WorkflowEvent(Base):
    """What happened inside one logged run, in order."""

    __tablename__ = "workflow_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=_jsonb_default("{}"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class AuditLog(Base):
    """Who did what to which target; written in the same transaction as the change itself."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_target", "target_type", "target_id", "created_at"),
        # The admin API's listing: the entries of a team's users, newest first (keyset on id).
        Index("ix_audit_logs_user_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    target_type: Mapped[str] = mapped_column(Text, nullable=False)
    target_id: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=_jsonb_default("{}"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class GmailDraft(Base):
    """The Gmail draft an approved draft_reply made; one per action."""

    __tablename__ = "gmail_drafts"
    # Drafts and events newest first, merged in order (the dashboard's and the admin API's list).
    __table_args__ = (Index("ix_gmail_drafts_synced", "synced_at", "action_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposed_actions.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    provider_draft_id: Mapped[str] = mapped_column(Text, nullable=False)
    provider_message_id: Mapped[str] = mapped_column(Text, nullable=False)
    thread_id: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime] = _created_at()


class CalendarEventRecord(Base):
    """The Calendar event an approved schedule_event made; one per action."""

    __tablename__ = "calendar_events"
    __table_args__ = (Index("ix_calendar_events_synced", "synced_at", "action_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposed_actions.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    provider_event_id: Mapped[str] = mapped_column(Text, nullable=False)
    html_link: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    synced_at: Mapped[datetime] = _created_at()


class FeedbackEntry(TimestampMixin, Base):
    """The user's verdict on a work item (positive / negative, with a note); one per item."""

    __tablename__ = "feedback_entries"
    __table_args__ = (CheckConstraint(one_of("rating", FEEDBACK_RATINGS), name="rating"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    work_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_items.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    rating: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
