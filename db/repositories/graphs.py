"""Graph definitions, executions and steps (db/models/graphs.py).

Every write is idempotent, since activities may run again: an execution is inserted once by its
id (chosen by the client), a step is upserted on (execution, node), and a finished or failed
execution is never moved back to running. The caller owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import table_of
from db.models.graphs import GraphExecution, GraphStep, WorkflowDefinition
from db.repository import Repository

FINISHED = ("completed", "failed", "cancelled")
# A step's record changes only while it is open: a completed, failed or skipped step is final
# (a late write from a cancelled local activity, or a repeat, cannot undo it).
OPEN_STEP = ("pending", "running")


class DefinitionRepository(Repository[WorkflowDefinition]):
    def __init__(self) -> None:
        super().__init__(WorkflowDefinition)

    async def latest(self, name: str, *, session: AsyncSession) -> WorkflowDefinition | None:
        rows = await self.find_many(session=session, name=name, order_by=WorkflowDefinition.version.desc(), limit=1)
        return rows[0] if rows else None

    async def version(self, name: str, version: int, *, session: AsyncSession) -> WorkflowDefinition | None:
        return await self.find_one(session=session, name=name, version=version, include_deleted=True)

    async def add_version(
        self, name: str, *, graph: dict[str, Any], description: str, session: AsyncSession
    ) -> tuple[WorkflowDefinition, bool]:
        """A new version of `name` holding `graph`, or the latest one when it holds the same graph
        already (applying a file twice stores one version). Returns (row, created)."""
        latest = await self.latest(name, session=session)
        if latest is not None and latest.graph == graph:
            return latest, False
        # Versions count on from deleted ones too, so a version number is never reused.
        top = await session.scalar(select(func.max(WorkflowDefinition.version)).where(WorkflowDefinition.name == name))
        row = await self.create(
            session=session, name=name, version=int(top or 0) + 1, graph=graph, description=description
        )
        return row, True

    async def names(self, *, session: AsyncSession) -> list[WorkflowDefinition]:
        """The latest live version of every definition, by name."""
        rows = await self.find_many(session=session, order_by=(WorkflowDefinition.name, WorkflowDefinition.version))
        latest: dict[str, WorkflowDefinition] = {}
        for row in rows:
            latest[row.name] = row
        return list(latest.values())


class GraphExecutionRepository(Repository[GraphExecution]):
    def __init__(self) -> None:
        super().__init__(GraphExecution)

    async def open(
        self,
        *,
        session: AsyncSession,
        execution_id: uuid.UUID,
        definition: WorkflowDefinition,
        input: dict[str, Any],
        workflow_id: str,
        run_id: str,
        retried_from: uuid.UUID | None,
        root_execution_id: uuid.UUID,
        started_at: datetime | None,
    ) -> None:
        """The execution, running; a second call (a retried activity) changes nothing."""
        values: dict[str, Any] = {
            "id": execution_id,
            "definition_id": definition.id,
            "definition_name": definition.name,
            "definition_version": definition.version,
            "status": "running",
            "input": input,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "retried_from": retried_from,
            "root_execution_id": root_execution_id,
        }
        if started_at is not None:
            values["started_at"] = started_at
        await session.execute(insert(table_of(GraphExecution)).values(**values).on_conflict_do_nothing())

    async def finish(
        self,
        execution_id: uuid.UUID,
        *,
        session: AsyncSession,
        status: str,
        output: dict[str, Any] | None = None,
        error: str | None = None,
        failed_node_id: str | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        """Completed, failed or cancelled, once: a finished execution keeps its first outcome."""
        await session.execute(
            update(table_of(GraphExecution))
            .where(GraphExecution.id == execution_id, GraphExecution.status.not_in(FINISHED))
            .values(
                status=status,
                output=output,
                error=error,
                failed_node_id=failed_node_id,
                finished_at=finished_at or func.now(),
                updated_at=func.now(),
            )
        )


class GraphStepRepository(Repository[GraphStep]):
    def __init__(self) -> None:
        super().__init__(GraphStep)

    async def record(self, *, session: AsyncSession, steps: list[dict[str, Any]]) -> None:
        """Upsert steps on (execution, node): one statement per set of columns given. Only an open
        step changes (OPEN_STEP)."""
        if not steps:
            return
        # One statement per set of columns given (a step running, completed, skipped ...).
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for step in steps:
            groups.setdefault(tuple(sorted(step)), []).append(step)
        for columns, rows in groups.items():
            stmt = insert(table_of(GraphStep)).values(rows)
            changed: dict[str, Any] = {c: stmt.excluded[c] for c in columns if c not in ("execution_id", "node_id")}
            changed["updated_at"] = func.now()
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[GraphStep.execution_id, GraphStep.node_id],
                    set_=changed,
                    where=GraphStep.status.in_(OPEN_STEP),
                )
            )

    async def of(self, execution_id: uuid.UUID, *, session: AsyncSession) -> list[GraphStep]:
        return await self.find_many(
            session=session, execution_id=execution_id, order_by=(GraphStep.started_at, GraphStep.node_id)
        )

    async def completed(self, execution_id: uuid.UUID, *, session: AsyncSession) -> list[GraphStep]:
        return await self.find_many(session=session, execution_id=execution_id, status="completed")
