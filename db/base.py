"""Declarative base, naming convention and the column mixins every model shares."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, MetaData, Table, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic autogenerate and `alembic check` agree across machines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Automated writes (webhooks, schedules, workflows) are attributed to this user.
SYSTEM_USER_ID = "system"


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def uuid_pk() -> Mapped[uuid.UUID]:
    """A UUID primary key the database fills (gen_random_uuid()) unless the insert gives one."""
    return mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Table `model` is mapped to, for Core statements.

    SQLAlchemy types `Model.__table__` as any FromClause (a model may be mapped to a
    join or a select); ours are all mapped to tables, and insert(), delete() and `.c`
    type-check only on a Table.
    """
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is mapped to {type(table).__name__}, not a Table")
    return table


class TimestampMixin:
    """created_at / updated_at kept by the database server."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed: repositories filter `deleted_at IS NULL` automatically."""

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
