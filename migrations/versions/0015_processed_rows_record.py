"""processed_rows: the work order a row became is recorded, not referenced (no foreign key, no index)

A processed row is the import's record of what a row of the file became; it stays as it was
if the work order is deleted later, and an import writes tens of thousands of them a chunk,
where a foreign key check and an index entry per row doubled the cost of the write.
The downgrade restores the key, deleting first the processed rows whose work order has gone
(as the cascade would have): a batch's counts may then exceed its processed rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 14:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("fk_processed_rows_work_order_id_work_orders"), "processed_rows", type_="foreignkey")
    op.drop_index(op.f("ix_processed_rows_work_order_id"), table_name="processed_rows")


def downgrade() -> None:
    # Rows whose work order has gone would break the key: they are removed, as the cascade did.
    op.execute(
        "DELETE FROM processed_rows AS p WHERE NOT EXISTS (SELECT 1 FROM work_orders w WHERE w.id = p.work_order_id)"
    )
    op.create_index(op.f("ix_processed_rows_work_order_id"), "processed_rows", ["work_order_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_processed_rows_work_order_id_work_orders"),
        "processed_rows",
        "work_orders",
        ["work_order_id"],
        ["id"],
        ondelete="CASCADE",
    )
