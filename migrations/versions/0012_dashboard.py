"""the dashboard's pages: indexes that serve each list in its order, so a page reads only its rows

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 05:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: list[tuple[str, str, list[str], str | None]] = [
    ("ix_jobs_team_status_created", "jobs", ["team_id", "status", "created_at", "id"], None),
    ("ix_work_items_queue", "work_items", ["importance_score", "updated_at", "id"], "status = 'awaiting_approval'"),
    (
        "ix_work_items_decided",
        "work_items",
        ["coalesce(completed_at, updated_at)", "id"],
        "status IN ('completed', 'dismissed')",
    ),
    ("ix_gmail_drafts_synced", "gmail_drafts", ["synced_at", "action_id"], None),
    ("ix_calendar_events_synced", "calendar_events", ["synced_at", "action_id"], None),
    ("ix_work_orders_created", "work_orders", ["created_at", "id"], None),
    ("ix_export_jobs_status_created", "export_jobs", ["status", "created_at", "id"], None),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(
            name,
            table,
            [sa.text(c) if "(" in c else c for c in columns],
            unique=False,
            postgresql_where=sa.text(where) if where else None,
        )


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
