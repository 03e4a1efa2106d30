"""work orders: workspaces, workspace_members, fm_profiles, work_orders,
work_order_sources, signed_documents, signed_match, extraction_runs, export_jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:42:04.550066
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("spreadsheet_id", sa.Text(), nullable=True),
        sa.Column("work_order_sheet", sa.Text(), server_default="Work Orders", nullable=False),
        sa.Column("signed_sheet", sa.Text(), server_default="Signed", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("slug", name=op.f("uq_workspaces_slug")),
    )
    op.create_table(
        "fm_profiles",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("fm_key", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column(
            "sender_domains",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "text_markers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "field_patterns",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_fm_profiles_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fm_profiles")),
        sa.UniqueConstraint("workspace_id", "fm_key", name=op.f("uq_fm_profiles_workspace_id_fm_key")),
    )
    op.create_index(op.f("ix_fm_profiles_workspace_id"), "fm_profiles", ["workspace_id"], unique=False)
    op.create_table(
        "signed_documents",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("file_hash", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column(
            "source_metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("fm_key", sa.Text(), nullable=True),
        sa.Column("extracted_work_order_number", sa.Text(), nullable=False),
        sa.Column("signed_by", sa.Text(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("match_status", sa.Text(), nullable=False),
        sa.Column("match_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "match_status IN ('MATCHED', 'UNMATCHED', 'REFUSED')", name=op.f("ck_signed_documents_match_status")
        ),
        sa.CheckConstraint("source_type IN ('GMAIL', 'FILE')", name=op.f("ck_signed_documents_source_type")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_signed_documents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signed_documents")),
        sa.UniqueConstraint("workspace_id", "file_hash", name=op.f("uq_signed_documents_workspace_id_file_hash")),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("work_order_number", sa.Text(), nullable=False),
        sa.Column("fm_key", sa.Text(), nullable=True),
        sa.Column("facility_manager", sa.Text(), nullable=True),
        sa.Column("site", sa.Text(), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="OPEN", nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('OPEN', 'SIGNED')", name=op.f("ck_work_orders_status")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_work_orders_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint(
            "workspace_id", "work_order_number", name=op.f("uq_work_orders_workspace_id_work_order_number")
        ),
    )
    op.create_index("ix_work_orders_workspace_created", "work_orders", ["workspace_id", "created_at"], unique=False)
    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="member", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_workspace_members")),
    )
    op.create_index(op.f("ix_workspace_members_user_id"), "workspace_members", ["user_id"], unique=False)
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("signed_document_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.Text(), server_default="PENDING", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sheet_row", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'WORK_ORDER' AND work_order_id IS NOT NULL AND signed_document_id IS NULL) OR "
            "(kind = 'SIGNED_DOCUMENT' AND signed_document_id IS NOT NULL AND work_order_id IS NULL)",
            name=op.f("ck_export_jobs_entity"),
        ),
        sa.CheckConstraint("kind IN ('WORK_ORDER', 'SIGNED_DOCUMENT')", name=op.f("ck_export_jobs_kind")),
        sa.CheckConstraint("status IN ('PENDING', 'PROCESSING', 'DONE', 'FAILED')", name=op.f("ck_export_jobs_status")),
        sa.ForeignKeyConstraint(
            ["signed_document_id"],
            ["signed_documents.id"],
            name=op.f("fk_export_jobs_signed_document_id_signed_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_export_jobs_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_export_jobs_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
        sa.UniqueConstraint("signed_document_id", name=op.f("uq_export_jobs_signed_document_id")),
        sa.UniqueConstraint("work_order_id", name=op.f("uq_export_jobs_work_order_id")),
    )
    op.create_index("ix_export_jobs_status_next_attempt_at", "export_jobs", ["status", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_export_jobs_workspace_id"), "export_jobs", ["workspace_id"], unique=False)
    op.create_table(
        "extraction_runs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("file_hash", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("fm_key", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "fields", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("text_chars", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_ms", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("signed_document_id", sa.Uuid(), nullable=True),
        sa.Column("workflow_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('WORK_ORDER', 'SIGNED_DOCUMENT')", name=op.f("ck_extraction_runs_kind")),
        sa.CheckConstraint("outcome IN ('SUCCEEDED', 'FAILED')", name=op.f("ck_extraction_runs_outcome")),
        sa.ForeignKeyConstraint(
            ["signed_document_id"],
            ["signed_documents.id"],
            name=op.f("fk_extraction_runs_signed_document_id_signed_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_extraction_runs_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_extraction_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extraction_runs")),
    )
    op.create_index(op.f("ix_extraction_runs_file_hash"), "extraction_runs", ["file_hash"], unique=False)
    op.create_index(op.f("ix_extraction_runs_work_order_id"), "extraction_runs", ["work_order_id"], unique=False)
    op.create_index(op.f("ix_extraction_runs_workspace_id"), "extraction_runs", ["workspace_id"], unique=False)
    op.create_table(
        "signed_match",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("signed_document_id", sa.Uuid(), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["signed_document_id"],
            ["signed_documents.id"],
            name=op.f("fk_signed_match_signed_document_id_signed_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_signed_match_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_signed_match")),
        sa.UniqueConstraint("signed_document_id", name=op.f("uq_signed_match_signed_document_id")),
    )
    op.create_table(
        "work_order_sources",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("file_hash", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column(
            "source_metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source_type IN ('GMAIL', 'FILE')", name=op.f("ck_work_order_sources_source_type")),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_sources_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_work_order_sources_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_sources")),
        sa.UniqueConstraint("workspace_id", "file_hash", name=op.f("uq_work_order_sources_workspace_id_file_hash")),
    )
    op.create_index(op.f("ix_work_order_sources_work_order_id"), "work_order_sources", ["work_order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_work_order_sources_work_order_id"), table_name="work_order_sources")
    op.drop_table("work_order_sources")
    op.drop_table("signed_match")
    op.drop_index(op.f("ix_extraction_runs_workspace_id"), table_name="extraction_runs")
    op.drop_index(op.f("ix_extraction_runs_work_order_id"), table_name="extraction_runs")
    op.drop_index(op.f("ix_extraction_runs_file_hash"), table_name="extraction_runs")
    op.drop_table("extraction_runs")
    op.drop_index(op.f("ix_export_jobs_workspace_id"), table_name="export_jobs")
    op.drop_index("ix_export_jobs_status_next_attempt_at", table_name="export_jobs")
    op.drop_table("export_jobs")
    op.drop_index(op.f("ix_workspace_members_user_id"), table_name="workspace_members")
    op.drop_table("workspace_members")
    op.drop_index("ix_work_orders_workspace_created", table_name="work_orders")
    op.drop_table("work_orders")
    op.drop_table("signed_documents")
    op.drop_index(op.f("ix_fm_profiles_workspace_id"), table_name="fm_profiles")
    op.drop_table("fm_profiles")
    op.drop_table("workspaces")
