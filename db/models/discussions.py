"""The discussion pipeline's tables: source configs, discussions, jobs, tasks.

Every row is team-scoped; automated writes are attributed to SYSTEM_USER_ID.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import SYSTEM_USER_ID, Base, SoftDeleteMixin, TimestampMixin, one_of, uuid_pk

SOURCE_TYPES = ("slack", "figma")
DISCUSSION_STATUSES = ("pending", "processing", "completed", "failed")
JOB_STATUSES = ("pending", "processing", "completed", "failed")
JOB_STAGES = ("ingestion", "thread_building", "ai_analysis", "task_creation", "notification")


class AuthoredMixin:
    created_by: Mapped[str] = mapped_column(Text, nullable=False, default=SYSTEM_USER_ID)
    updated_by: Mapped[str] = mapped_column(Text, nullable=False, default=SYSTEM_USER_ID)


class SourceConfig(AuthoredMixin, SoftDeleteMixin, TimestampMixin, Base):
    """A team's settings for one source: where its tasks go in Notion and how to answer."""

    __tablename__ = "source_configs"
    __table_args__ = (
        CheckConstraint(one_of("source_type", SOURCE_TYPES), name="source_type"),
        Index(
            "uq_source_configs_team_source_live",
            "team_id",
            "source_type",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # A webhook names its team by this id: one live config per (source, external id).
        Index(
            "uq_source_configs_source_external_live",
            "source_type",
            "external_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False)
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    notion_database_id: Mapped[str] = mapped_column(Text, nullable=False)
    # Notion property names for priority, type, assignee, due_date, tags (None: not mapped).
    notion_field_mapping: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    reply_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # The id the source's webhooks carry that maps an event to this config (and so to its team):
    # Slack's workspace id (the envelope's team_id, T...), Figma's webhook_id. None: no webhook maps here.
    external_id: Mapped[str | None] = mapped_column(Text)


class Discussion(AuthoredMixin, TimestampMixin, Base):
    """One source thread, with what the pipeline learned from it."""

    __tablename__ = "discussions"
    __table_args__ = (
        CheckConstraint(one_of("source_type", SOURCE_TYPES), name="source_type"),
        CheckConstraint(one_of("status", DISCUSSION_STATUSES), name="status"),
        UniqueConstraint("team_id", "source_type", "source_thread_id"),
        # The admin API's listing: a team's discussions, newest first (keyset on created_at, id).
        Index("ix_discussions_team_created", "team_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    source_thread_id: Mapped[str] = mapped_column(Text, nullable=False)
    source_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    author_handle: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    source_config_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("source_configs.id"))
    sync_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL", use_alter=True))
    thread_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_action_items: Mapped[list[str] | None] = mapped_column(JSONB)
    ai_analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notion_task_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(AuthoredMixin, TimestampMixin, Base):
    """One processing attempt of a discussion; a retry is a new job."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(one_of("source_type", SOURCE_TYPES), name="source_type"),
        CheckConstraint(one_of("status", JOB_STATUSES), name="status"),
        CheckConstraint(one_of("stage", JOB_STAGES), name="stage"),
        Index("ix_jobs_status_completed_at", "status", "completed_at"),
        # The admin API's listing: a team's jobs, newest first (keyset on created_at, id).
        Index("ix_jobs_team_created", "team_id", "created_at", "id"),
        # The dashboard's jobs by status (and its counts per status): a team's, newest first.
        Index("ix_jobs_team_status_created", "team_id", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    stage: Mapped[str] = mapped_column(Text, nullable=False, server_default="ingestion")
    discussion_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("discussions.id", ondelete="SET NULL"), index=True
    )
    source_config_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("source_configs.id"))
    workflow_id: Mapped[str] = mapped_column(Text, nullable=False)
    workflow_run_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    error_stack: Mapped[str | None] = mapped_column(Text)
    # Named job_metadata in Python: `metadata` is taken by SQLAlchemy's declarative base.
    job_metadata: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Task(AuthoredMixin, TimestampMixin, Base):
    """A Notion page the pipeline made for one detected task; one per (discussion, index)."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("discussion_id", "task_index"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    discussion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"), nullable=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    notion_page_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    notion_page_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    is_multi_task_child: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    task_index: Mapped[int] = mapped_column(Integer, nullable=False)
