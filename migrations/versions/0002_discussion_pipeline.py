"""discussion pipeline: source_configs, discussions, jobs, tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:17:33.966716
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_configs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("notion_database_id", sa.Text(), nullable=False),
        sa.Column(
            "notion_field_mapping",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("reply_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source_type IN ('slack', 'figma')", name=op.f("ck_source_configs_source_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_configs")),
    )
    op.create_index(
        "uq_source_configs_team_source_live",
        "source_configs",
        ["team_id", "source_type"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "discussions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("source_thread_id", sa.Text(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author_handle", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("source_config_id", sa.Uuid(), nullable=True),
        sa.Column("sync_job_id", sa.Uuid(), nullable=True),
        sa.Column("thread_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ai_summary", sa.Text(), nullable=True),
        sa.Column("ai_action_items", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ai_analysis", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "notion_task_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source_type IN ('slack', 'figma')", name=op.f("ck_discussions_source_type")),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')", name=op.f("ck_discussions_status")
        ),
        sa.ForeignKeyConstraint(
            ["source_config_id"], ["source_configs.id"], name=op.f("fk_discussions_source_config_id_source_configs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discussions")),
        sa.UniqueConstraint(
            "team_id",
            "source_type",
            "source_thread_id",
            name=op.f("uq_discussions_team_id_source_type_source_thread_id"),
        ),
    )
    op.create_index(op.f("ix_discussions_team_id"), "discussions", ["team_id"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("stage", sa.Text(), server_default="ingestion", nullable=False),
        sa.Column("discussion_id", sa.Uuid(), nullable=True),
        sa.Column("source_config_id", sa.Uuid(), nullable=True),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("workflow_run_id", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_stack", sa.Text(), nullable=True),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source_type IN ('slack', 'figma')", name=op.f("ck_jobs_source_type")),
        sa.CheckConstraint(
            "stage IN ('ingestion', 'thread_building', 'ai_analysis', 'task_creation', 'notification')",
            name=op.f("ck_jobs_stage"),
        ),
        sa.CheckConstraint("status IN ('pending', 'processing', 'completed', 'failed')", name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(
            ["discussion_id"], ["discussions.id"], name=op.f("fk_jobs_discussion_id_discussions"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_config_id"], ["source_configs.id"], name=op.f("fk_jobs_source_config_id_source_configs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("workflow_run_id", name=op.f("uq_jobs_workflow_run_id")),
    )
    op.create_index(op.f("ix_jobs_discussion_id"), "jobs", ["discussion_id"], unique=False)
    op.create_index("ix_jobs_status_completed_at", "jobs", ["status", "completed_at"], unique=False)
    op.create_index(op.f("ix_jobs_team_id"), "jobs", ["team_id"], unique=False)
    # discussions and jobs point at each other: this side is added once both exist.
    op.create_foreign_key(
        op.f("fk_discussions_sync_job_id_jobs"), "discussions", "jobs", ["sync_job_id"], ["id"], ondelete="SET NULL"
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("discussion_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("notion_page_id", sa.Text(), nullable=False),
        sa.Column("notion_page_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("priority", sa.Text(), nullable=True),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("is_multi_task_child", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("task_index", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["discussion_id"], ["discussions.id"], name=op.f("fk_tasks_discussion_id_discussions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_tasks_job_id_jobs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("discussion_id", "task_index", name=op.f("uq_tasks_discussion_id_task_index")),
        sa.UniqueConstraint("notion_page_id", name=op.f("uq_tasks_notion_page_id")),
    )
    op.create_index(op.f("ix_tasks_team_id"), "tasks", ["team_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_team_id"), table_name="tasks")
    op.drop_table("tasks")
    op.drop_index(op.f("ix_jobs_team_id"), table_name="jobs")
    op.drop_index("ix_jobs_status_completed_at", table_name="jobs")
    op.drop_index(op.f("ix_jobs_discussion_id"), table_name="jobs")
    op.drop_constraint(op.f("fk_discussions_sync_job_id_jobs"), "discussions", type_="foreignkey")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_discussions_team_id"), table_name="discussions")
    op.drop_table("discussions")
    op.drop_index(
        "uq_source_configs_team_source_live",
        table_name="source_configs",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_table("source_configs")
