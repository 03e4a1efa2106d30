"""work-order dates: fm_profiles.date_order, extraction_runs.warnings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("fm_profiles", sa.Column("date_order", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_fm_profiles_date_order"), "fm_profiles", "date_order IN ('day_first', 'month_first')"
    )
    op.add_column(
        "extraction_runs",
        sa.Column(
            "warnings", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column("extraction_runs", "warnings")
    op.drop_constraint(op.f("ck_fm_profiles_date_order"), "fm_profiles", type_="check")
    op.drop_column("fm_profiles", "date_order")
