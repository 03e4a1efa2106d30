"""signal ingestion and approvals: signal_users, ingestion_state, work_items, gate_evaluations,
proposed_actions, workflow_runs, workflow_events, audit_logs, gmail_drafts, calendar_events,
feedback_entries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:41:06.748476
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=False),
        sa.Column("target_id", sa.Text(), nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index(op.f("ix_audit_logs_created_at"), "audit_logs", ["created_at"], unique=False)
    op.create_index("ix_audit_logs_target", "audit_logs", ["target_type", "target_id", "created_at"], unique=False)
    op.create_table(
        "signal_users",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("mailbox", sa.Text(), nullable=False),
        sa.Column("calendar_id", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "watch_keywords",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "sender_scores",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("gate_config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_signal_users")),
    )
    op.create_table(
        "ingestion_state",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("gmail_cursor", sa.Text(), nullable=True),
        sa.Column("calendar_cursor", sa.Text(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bootstrap_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["signal_users.user_id"],
            name=op.f("fk_ingestion_state_user_id_signal_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_ingestion_state")),
    )
    op.create_table(
        "work_items",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="awaiting_approval", nullable=False),
        sa.Column("importance_tier", sa.Text(), nullable=False),
        sa.Column("importance_score", sa.SmallInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "importance_tier IN ('critical', 'important', 'later')", name=op.f("ck_work_items_importance_tier")
        ),
        sa.CheckConstraint(
            "intent IN ('draft_reply', 'schedule_event', 'refund_request')", name=op.f("ck_work_items_intent")
        ),
        sa.CheckConstraint("source IN ('gmail', 'calendar', 'tool')", name=op.f("ck_work_items_source")),
        sa.CheckConstraint(
            "status IN ('awaiting_approval', 'completed', 'dismissed')", name=op.f("ck_work_items_status")
        ),
        sa.CheckConstraint("importance_score BETWEEN 0 AND 100", name=op.f("ck_work_items_importance_score")),
        sa.ForeignKeyConstraint(["user_id"], ["signal_users.user_id"], name=op.f("fk_work_items_user_id_signal_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
        sa.UniqueConstraint("user_id", "source", "source_id", name=op.f("uq_work_items_user_id_source_source_id")),
    )
    op.create_index(
        "ix_work_items_user_status_importance", "work_items", ["user_id", "status", "importance_score"], unique=False
    )
    op.create_table(
        "feedback_entries",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rating IN ('positive', 'negative')", name=op.f("ck_feedback_entries_rating")),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_feedback_entries_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_entries")),
        sa.UniqueConstraint("work_item_id", name=op.f("uq_feedback_entries_work_item_id")),
    )
    op.create_table(
        "gate_evaluations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("gate", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "gate IN ('decision', 'time', 'relationship', 'impact', 'watch')", name=op.f("ck_gate_evaluations_gate")
        ),
        sa.CheckConstraint("score BETWEEN 0 AND 10", name=op.f("ck_gate_evaluations_score")),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_gate_evaluations_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_evaluations")),
    )
    op.create_index(op.f("ix_gate_evaluations_work_item_id"), "gate_evaluations", ["work_item_id"], unique=False)
    op.create_table(
        "proposed_actions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("action_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "action_type IN ('draft_reply', 'schedule_event', 'refund_request')",
            name=op.f("ck_proposed_actions_action_type"),
        ),
        sa.CheckConstraint("status IN ('pending', 'executed', 'dismissed')", name=op.f("ck_proposed_actions_status")),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_proposed_actions_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposed_actions")),
        sa.UniqueConstraint("work_item_id", name=op.f("uq_proposed_actions_work_item_id")),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("work_item_id", sa.Uuid(), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="completed", nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=True),
        sa.Column("workflow_run_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "phase IN ('ingest', 'queue', 'approve', 'dismiss', 'feedback')", name=op.f("ck_workflow_runs_phase")
        ),
        sa.CheckConstraint("status IN ('completed')", name=op.f("ck_workflow_runs_status")),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_items.id"],
            name=op.f("fk_workflow_runs_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
    )
    op.create_index(op.f("ix_workflow_runs_created_at"), "workflow_runs", ["created_at"], unique=False)
    op.create_index(op.f("ix_workflow_runs_work_item_id"), "workflow_runs", ["work_item_id"], unique=False)
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("provider_event_id", sa.Text(), nullable=False),
        sa.Column("html_link", sa.Text(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["proposed_actions.id"],
            name=op.f("fk_calendar_events_action_id_proposed_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
        sa.UniqueConstraint("action_id", name=op.f("uq_calendar_events_action_id")),
    )
    op.create_table(
        "gmail_drafts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("provider_draft_id", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["proposed_actions.id"],
            name=op.f("fk_gmail_drafts_action_id_proposed_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gmail_drafts")),
        sa.UniqueConstraint("action_id", name=op.f("uq_gmail_drafts_action_id")),
    )
    op.create_table(
        "workflow_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["workflow_runs.id"], name=op.f("fk_workflow_events_run_id_workflow_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_events")),
    )
    op.create_index(op.f("ix_workflow_events_created_at"), "workflow_events", ["created_at"], unique=False)
    op.create_index(op.f("ix_workflow_events_run_id"), "workflow_events", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_workflow_events_run_id"), table_name="workflow_events")
    op.drop_index(op.f("ix_workflow_events_created_at"), table_name="workflow_events")
    op.drop_table("workflow_events")
    op.drop_table("gmail_drafts")
    op.drop_table("calendar_events")
    op.drop_index(op.f("ix_workflow_runs_work_item_id"), table_name="workflow_runs")
    op.drop_index(op.f("ix_workflow_runs_created_at"), table_name="workflow_runs")
    op.drop_table("workflow_runs")
    op.drop_table("proposed_actions")
    op.drop_index(op.f("ix_gate_evaluations_work_item_id"), table_name="gate_evaluations")
    op.drop_table("gate_evaluations")
    op.drop_table("feedback_entries")
    op.drop_index("ix_work_items_user_status_importance", table_name="work_items")
    op.drop_table("work_items")
    op.drop_table("ingestion_state")
    op.drop_table("signal_users")
    op.drop_index("ix_audit_logs_target", table_name="audit_logs")
    op.drop_index(op.f("ix_audit_logs_created_at"), table_name="audit_logs")
    op.drop_table("audit_logs")
