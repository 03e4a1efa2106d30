"""A generic async repository: CRUD once, with soft delete where the table has `deleted_at`.

Repositories take a keyword-only `session`, flush but never commit (the caller's
unit of work owns the transaction), and turn driver errors into domain errors.
Domain repositories subclass `Repository` and add their own methods; no ad-hoc
SQL lives outside db/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, delete, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from core.errors import ConflictError

# Any declarative model: the project's (db.base.Base) and the tests' scratch tables alike.
ModelT = TypeVar("ModelT", bound=DeclarativeBase)


class Repository(Generic[ModelT]):
    """CRUD for one model. Filters are column=value keywords and/or SQLAlchemy expressions."""

    def __init__(self, model: type[ModelT]) -> None:
        self.model = model
        self._pk = inspect(model).primary_key[0]
        self.soft_delete = "deleted_at" in inspect(model).columns

    # -- reads -------------------------------------------------------------------------

    async def find_by_id(self, id_: Any, *, session: AsyncSession, include_deleted: bool = False) -> ModelT | None:
        return await self.find_one(self._pk == id_, session=session, include_deleted=include_deleted)

    async def find_one(
        self,
        *where: ColumnElement[bool],
        session: AsyncSession,
        include_deleted: bool = False,
        **filters: Any,
    ) -> ModelT | None:
        stmt = select(self.model).where(*self._conditions(where, filters, include_deleted)).limit(1)
        return (await session.scalars(stmt)).first()

    async def find_many(
        self,
        *where: ColumnElement[bool],
        session: AsyncSession,
        order_by: Sequence[Any] | Any = (),
        limit: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> list[ModelT]:
        stmt = select(self.model).where(*self._conditions(where, filters, include_deleted))
        order = order_by if isinstance(order_by, Sequence) else (order_by,)
        stmt = stmt.order_by(*order) if order else stmt.order_by(self._pk)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset is not None:
            stmt = stmt.offset(offset)
        return list((await session.scalars(stmt)).all())

    async def count(
        self,
        *where: ColumnElement[bool],
        session: AsyncSession,
        include_deleted: bool = False,
        **filters: Any,
    ) -> int:
        stmt = select(func.count()).select_from(self.model).where(*self._conditions(where, filters, include_deleted))
        return int(await session.scalar(stmt) or 0)

    # -- writes ------------------------------------------------------------------------

    async def create(self, *, session: AsyncSession, **values: Any) -> ModelT:
        row = self.model(**values)
        session.add(row)
        await self._flush(session, f"create {self.model.__tablename__}")
        return row

    async def update(
        self,
        *where: ColumnElement[bool],
        values: Mapping[str, Any],
        session: AsyncSession,
        **filters: Any,
    ) -> list[ModelT]:
        """Set `values` on every live row that matches; returns the updated rows."""
        stmt = (
            update(self.model)
            .where(*self._conditions(where, filters, include_deleted=False))
            .values(**values)
            .returning(self.model)
            .execution_options(synchronize_session="fetch")
        )
        try:
            return list((await session.scalars(stmt)).all())
        except IntegrityError as err:
            raise ConflictError(f"update {self.model.__tablename__}: {integrity_reason(err)}") from err

    async def update_by_id(self, id_: Any, *, session: AsyncSession, **values: Any) -> ModelT | None:
        rows = await self.update(self._pk == id_, values=values, session=session)
        return rows[0] if rows else None

    async def delete(self, *where: ColumnElement[bool], session: AsyncSession, **filters: Any) -> list[Any]:
        """Delete matching live rows (a soft delete where the table has `deleted_at`); returns their ids."""
        conditions = self._conditions(where, filters, include_deleted=False)
        if self.soft_delete:
            stmt: Any = update(self.model).where(*conditions).values(deleted_at=func.now())
        else:
            stmt = delete(self.model).where(*conditions)
        stmt = stmt.returning(self._pk).execution_options(synchronize_session="fetch")
        return list((await session.scalars(stmt)).all())

    async def delete_by_id(self, id_: Any, *, session: AsyncSession) -> bool:
        return bool(await self.delete(self._pk == id_, session=session))

    # -- helpers -----------------------------------------------------------------------

    def _conditions(
        self,
        where: Sequence[ColumnElement[bool]],
        filters: Mapping[str, Any],
        include_deleted: bool,
    ) -> list[ColumnElement[bool]]:
        conditions = list(where)
        for name, value in filters.items():
            column = getattr(self.model, name, None)
            if column is None:
                raise AttributeError(f"{self.model.__name__} has no column {name!r}")
            conditions.append(column.is_(None) if value is None else column == value)
        if self.soft_delete and not include_deleted:
            conditions.append(self.model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return conditions

    async def _flush(self, session: AsyncSession, what: str) -> None:
        try:
            await session.flush()
        except IntegrityError as err:
            raise ConflictError(f"{what}: {integrity_reason(err)}") from err


def integrity_reason(err: IntegrityError) -> str:
    """The driver's one-line reason (e.g. which unique constraint), without the SQL."""
    orig = getattr(err, "orig", None)
    return str(orig).splitlines()[0] if orig is not None else str(err).splitlines()[0]
