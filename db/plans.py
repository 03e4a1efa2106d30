"""What PostgreSQL does for the statements an engine runs: capture them, then EXPLAIN each.

Used by the dashboard's query-plan test and its benchmark: run pages while `captured(engine)`
records every statement with its parameters, then `scans(engine, statement, parameters)`
lists the plan's table accesses ((node type, table) pairs). With `seqscan=False` the
planner avoids sequential scans wherever an index can serve the access, so a "Seq Scan"
left in that plan names a table the statement reads without an index behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

Statement = tuple[str, Any]


@contextmanager
def captured(engine: AsyncEngine) -> Iterator[list[Statement]]:
    """Every SELECT the engine runs while inside, with its parameters, in order."""
    seen: list[Statement] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _walk(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if "Relation Name" in node:
        yield node["Node Type"], node["Relation Name"]
    for child in node.get("Plans", []):
        yield from _walk(child)


async def scans(engine: AsyncEngine, statement: str, parameters: Any, *, seqscan: bool = True) -> list[tuple[str, str]]:
    """The (node type, table) of every table access in the statement's plan."""
    async with engine.connect() as connection:
        if not seqscan:
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        plan = result.scalar_one()
        await connection.rollback()
    return list(_walk(plan[0]["Plan"]))
