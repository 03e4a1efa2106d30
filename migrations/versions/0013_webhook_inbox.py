"""the webhook inbox: a Slack or Figma event that starts a thread's pipeline is kept here when it
is acknowledged, and a starter in the API process starts the thread's workflow from it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("source_thread_id", sa.Text(), nullable=False),
        sa.Column("input", postgresql.JSONB(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.Text()),
        sa.CheckConstraint("state IN ('pending', 'started', 'existing')", name=op.f("ck_webhook_inbox_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_webhook_inbox_workflow_id")),
    )
    # The starter's claim: pending rows due now, oldest first.
    op.create_index(
        "ix_webhook_inbox_pending",
        "webhook_inbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    # The retention sweep: settled rows by age.
    op.create_index(
        "ix_webhook_inbox_settled",
        "webhook_inbox",
        ["started_at"],
        postgresql_where=sa.text("state <> 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_inbox_settled", table_name="webhook_inbox")
    op.drop_index("ix_webhook_inbox_pending", table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
