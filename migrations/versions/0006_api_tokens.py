"""the admin API: api_tokens; team ownership of signal users and workspaces

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_team_id"), "api_tokens", ["team_id"], unique=False)
    for table in ("signal_users", "workspaces"):
        op.add_column(table, sa.Column("team_id", sa.Text(), nullable=True))
        op.create_index(op.f(f"ix_{table}_team_id"), table, ["team_id"], unique=False)


def downgrade() -> None:
    for table in ("workspaces", "signal_users"):
        op.drop_index(op.f(f"ix_{table}_team_id"), table_name=table)
        op.drop_column(table, "team_id")
    op.drop_index(op.f("ix_api_tokens_team_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
