"""the dashboard's batch list: an index in its order (newest first), so a page reads only its rows

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 08:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_batches_created", "batches", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_batches_created", table_name="batches")
