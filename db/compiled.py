"""Hot statements: built with Core, compiled once per dialect, run on the driver's cursor.

Profiled (bench/ingest.py, bench/discussions.py), `connection.execute(statement, params)` and
the ORM session spend more per call on SQLAlchemy than the database spends on the statement:
the statement's cache key (a walk of the whole tree) and the compiled-cache lookup, the
parameter dict built from the compiled form, an execution context and a result whose metadata
is rebuilt from the cursor description, for one row. A pipeline step that runs the same few
statements thousands of times an hour pays that on each.

A `CompiledStatement` pays it once per dialect: its SQL, the order of its positional
parameters, the values it binds itself (its literals) and each parameter's bind processor
(JSON serialization, as SQLAlchemy applies it). A call puts the values in that order and runs
the SQL on the connection's DBAPI cursor (asyncpg prepares it once per connection). The
transaction stays SQLAlchemy's: the cursor runs on the connection `Connection.begin()` commits
or rolls back, exactly as `connection.execute` would. A driver error is raised as SQLAlchemy
wraps it (`DBAPIError` subclasses), and a lost connection is invalidated (with the pool's older
connections, as SQLAlchemy does).

Against SQLAlchemy's own path (bench/sqlalchemy_path.py: `--via execute`, `connection.execute` with
its compiled cache hit; `--via lambda`, a `lambda_stmt`), 9 alternating runs of bench/ingest.py
--n 10000 give ratio 0.86 (0.79-0.90) on this cursor, 0.72 (0.68-0.76) execute, 0.74 (0.71-0.82)
lambda (median, range). bench/discussions.py --n 500 cannot tell the three apart (3 runs each:
ratio 0.75-0.88, CPU ratio 0.79-0.85): there Temporal's cost hides that of a few statements.

Rows come back as the driver returns them: values in the statement's column order.

    FIND = CompiledStatement(select(t.c.id, t.c.name).where(t.c.id == bindparam("id")))

    row = await FIND.first_alone(engine, {"id": some_id})        # one statement, autocommit
    with connection.begin():                                     # or inside a transaction
        row = FIND.first(connection, {"id": some_id})            # (in `connection.run_sync`)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

T = TypeVar("T")


class _Compiled:
    """One statement compiled for one dialect."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        # Every statement here is a Core construct (a ClauseElement) compiled by the SQL compiler.
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))
        assert compiled.positiontup is not None, "a dialect with positional parameters (asyncpg)"
        self.sql = compiled.string
        # Per position: the caller's parameter name (None: a value bound in the statement), that
        # value, and the type's bind processor (None: the driver takes the value as it is).
        self._slots: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._slots.append(
                (bind.key if bind.required else None, None if bind.required else bind.effective_value, process)
            )

    def arguments(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for the caller's `values` (by bind parameter name)."""
        arguments = []
        for name, value, process in self._slots:
            if name is not None:
                value = values[name]
            arguments.append(value if process is None else process(value))
        return tuple(arguments)

    def run(self, connection: Connection, values: dict[str, Any], *, rows: int | None) -> Sequence[Any]:
        """Run on the connection's DBAPI cursor; up to `rows` rows (None: all of them)."""
        arguments = self.arguments(values)
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, arguments)
            if cursor.description is None:
                return ()
            return cursor.fetchall() if rows is None else cursor.fetchmany(rows)
        except connection.dialect.loaded_dbapi.Error as error:
            lost = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
            if lost and not connection.invalidated:
                # As `connection.execute` does: every connection the pool made before this one is
                # suspect too (a restarted server dropped them all), so the pool replaces them.
                connection.engine.pool._invalidate(dbapi_connection, error)
                connection.invalidate(error)
            raise DBAPIError.instance(
                self.sql,
                arguments,
                error,
                connection.dialect.loaded_dbapi.Error,
                hide_parameters=connection.engine.hide_parameters,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from error
        finally:
            cursor.close()


class CompiledStatement:
    """A Core statement with `bindparam`s, compiled once for each dialect it runs on."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()

    def compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect)
        if compiled is None:
            compiled = self._by_dialect[dialect] = _Compiled(self.statement, dialect)
        return compiled

    # In a transaction (or a connection) the caller holds, inside `connection.run_sync`.

    def first(self, connection: Connection, values: dict[str, Any]) -> Any:
        """The first row, or None."""
        found = self.compiled(connection.dialect).run(connection, values, rows=1)
        return found[0] if found else None

    def all(self, connection: Connection, values: dict[str, Any]) -> Sequence[Any]:
        return self.compiled(connection.dialect).run(connection, values, rows=None)

    # One statement on its own: atomic by itself, so no BEGIN / COMMIT round trips.

    async def first_alone(self, engine: AsyncEngine, values: dict[str, Any]) -> Any:
        """Run as a statement of its own (autocommit) on a pooled connection; the first row or None."""
        return await _alone(engine, self.first, values)

    async def all_alone(self, engine: AsyncEngine, values: dict[str, Any]) -> Sequence[Any]:
        return await _alone(engine, self.all, values)


async def _alone(engine: AsyncEngine, run: Callable[[Connection, dict[str, Any]], T], values: dict[str, Any]) -> T:
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return await connection.run_sync(run, values)
