"""For the benchmarks' `--via`: run db/compiled.py's statements through SQLAlchemy's own path instead.

`use("execute")` makes every `CompiledStatement.first` / `all` run `connection.execute(statement,
values)` (the engine's compiled cache: one miss per statement, then hits); `use("lambda")` the
same through a `lambda_stmt`, whose cache key is the lambda's code and a token per statement
instead of a walk of the statement's tree. Rows come back as the hand-made path gives them
(tuples in column order); errors are SQLAlchemy's own (`DBAPIError`, invalidation).

`connection.execute` compiles every INSERT and UPDATE of a statement, CTEs included, with the
keys of `values` as column keys: a key that names a column of the written table adds that
column to its SET / VALUES clause: DiscussionStore's stage and finish statements would set
`jobs.discussion_id`, its save-tasks one `discussions.team_id` and `source_url` (as they are,
they then fail with InvalidRequestError). So the bind parameters are renamed here (`_` + name)
and the values passed under those names; the SQL is then exactly the hand-compiled one.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, lambda_stmt
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import Executable

from db.compiled import CompiledStatement

VIAS = ("cursor", "execute", "lambda")  # "cursor": db/compiled.py as it is
_TOKENS = itertools.count()


class _ThroughSQLAlchemy:
    def __init__(self, statement: Executable, via: str) -> None:
        self.names: dict[str, str] = {}

        def rename(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.required:
                assert not element.unique and not element.expanding, element
                self.names[element.key] = "_" + element.key
                return bindparam("_" + element.key, type_=element.type)
            return None

        renamed: Executable = visitors.replacement_traverse(statement, {}, rename)  # type: ignore[call-overload]
        # One code location serves every statement: the token keeps their cache keys apart.
        self.statement = (
            renamed
            if via == "execute"
            else lambda_stmt(lambda: renamed, track_closure_variables=False, track_on=[next(_TOKENS)])
        )

    def execute(self, connection: Connection, values: dict[str, Any]) -> CursorResult[Any]:
        return connection.execute(
            self.statement, {self.names[key]: value for key, value in values.items() if key in self.names}
        )


def use(via: str) -> None:
    """Run every `CompiledStatement` of this process `via` "cursor" (as is), "execute" or "lambda"."""
    if via == "cursor":
        return
    assert via in VIAS, via
    made: weakref.WeakKeyDictionary[CompiledStatement, _ThroughSQLAlchemy] = weakref.WeakKeyDictionary()

    def through(compiled: CompiledStatement) -> _ThroughSQLAlchemy:
        found = made.get(compiled)
        if found is None:
            found = made[compiled] = _ThroughSQLAlchemy(compiled.statement, via)
        return found

    def first(self: CompiledStatement, connection: Connection, values: dict[str, Any]) -> Any:
        result = through(self).execute(connection, values)
        row = result.first() if result.returns_rows else None
        return None if row is None else tuple(row)

    def all_(self: CompiledStatement, connection: Connection, values: dict[str, Any]) -> Sequence[Any]:
        result = through(self).execute(connection, values)
        return [tuple(row) for row in result] if result.returns_rows else ()

    CompiledStatement.first = first  # type: ignore[method-assign]
    CompiledStatement.all = all_  # type: ignore[method-assign]
