"""webhooks: source_configs.external_id (a webhook's workspace or webhook id -> team); notion integrations and events

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("source_configs", sa.Column("external_id", sa.Text(), nullable=True))
    op.create_index(
        "uq_source_configs_source_external_live",
        "source_configs",
        ["source_type", "external_id"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND external_id IS NOT NULL"),
    )
    op.create_table(
        "notion_integrations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column("verification_token", sa.Text(), nullable=True),
        sa.Column("token_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notion_integrations")),
    )
    op.create_index(op.f("ix_notion_integrations_team_id"), "notion_integrations", ["team_id"], unique=False)
    op.create_table(
        "notion_events",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("entity_type", sa.Text(), nullable=True),
        sa.Column("attempt_number", sa.Integer(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["notion_integrations.id"],
            name=op.f("fk_notion_events_integration_id_notion_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notion_events")),
        sa.UniqueConstraint("integration_id", "event_id", name=op.f("uq_notion_events_integration_id_event_id")),
    )
    op.create_index(op.f("ix_notion_events_team_id"), "notion_events", ["team_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notion_events_team_id"), table_name="notion_events")
    op.drop_table("notion_events")
    op.drop_index(op.f("ix_notion_integrations_team_id"), table_name="notion_integrations")
    op.drop_table("notion_integrations")
    op.drop_index("uq_source_configs_source_external_live", table_name="source_configs")
    op.drop_column("source_configs", "external_id")
