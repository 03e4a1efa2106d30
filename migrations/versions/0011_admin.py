"""the admin API's lists: indexes behind their keyset pagination (team, newest first)

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-02 05:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_discussions_team_created", "discussions", ["team_id", "created_at", "id"]),
    ("ix_jobs_team_created", "jobs", ["team_id", "created_at", "id"]),
    ("ix_audit_logs_user_id", "audit_logs", ["user_id", "id"]),
    ("ix_export_jobs_workspace_created", "export_jobs", ["workspace_id", "created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
