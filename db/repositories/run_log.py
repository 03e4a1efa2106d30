"""The run log (workflow_runs + workflow_events) and the audit log of the signal pipeline.

Writes join the caller's transaction: a change, its run log and its audit log commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.signals import AuditLog, WorkflowEvent, WorkflowRun
from db.repository import Repository


class RunLogRepository(Repository[WorkflowRun]):
    def __init__(self) -> None:
        super().__init__(WorkflowRun)

    async def record(
        self,
        *,
        session: AsyncSession,
        work_item_id: uuid.UUID,
        phase: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        workflow_id: str | None = None,
        workflow_run_id: str | None = None,
    ) -> uuid.UUID:
        """One completed run of `phase` on a work item, with its events in order; returns the run id."""
        run_id = await session.scalar(
            insert(WorkflowRun)
            .values(work_item_id=work_item_id, phase=phase, workflow_id=workflow_id, workflow_run_id=workflow_run_id)
            .returning(WorkflowRun.id)
        )
        assert run_id is not None
        if events:
            await session.execute(
                insert(WorkflowEvent),
                [{"run_id": run_id, "kind": kind, "payload": payload} for kind, payload in events],
            )
        return run_id

    async def timeline(self, work_item_id: uuid.UUID, *, session: AsyncSession) -> list[dict[str, Any]]:
        """Every run of a work item, oldest first, each with its events."""
        runs = await self.find_many(
            session=session, work_item_id=work_item_id, order_by=[WorkflowRun.created_at, WorkflowRun.id]
        )
        events = (
            (
                await session.scalars(
                    select(WorkflowEvent)
                    .where(WorkflowEvent.run_id.in_([run.id for run in runs]))
                    .order_by(WorkflowEvent.id)
                )
            ).all()
            if runs
            else []
        )
        by_run: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(
                {"kind": event.kind, "payload": event.payload, "at": event.created_at}
            )
        return [
            {
                "run_id": run.id,
                "phase": run.phase,
                "status": run.status,
                "workflow_id": run.workflow_id,
                "at": run.created_at,
                "events": by_run.get(run.id, []),
            }
            for run in runs
        ]

    async def prune_before(self, cutoff: datetime, *, session: AsyncSession) -> tuple[int, int]:
        """Delete events, then runs, older than `cutoff`; returns (events, runs) deleted.

        Both deletes run in the caller's transaction, so a failure leaves both tables as they
        were. Events of an
        old run go with it even when younger, so no event outlives its run.
        """
        old_runs = select(WorkflowRun.id).where(WorkflowRun.created_at < cutoff)
        events = await session.execute(
            delete(WorkflowEvent)
            .where((WorkflowEvent.created_at < cutoff) | WorkflowEvent.run_id.in_(old_runs))
            .returning(WorkflowEvent.id)
        )
        events_deleted = len(events.all())
        runs = await session.execute(
            delete(WorkflowRun).where(WorkflowRun.created_at < cutoff).returning(WorkflowRun.id)
        )
        return events_deleted, len(runs.all())


class AuditLogRepository(Repository[AuditLog]):
    def __init__(self) -> None:
        super().__init__(AuditLog)

    async def record(
        self,
        *,
        session: AsyncSession,
        user_id: str | None,
        action: str,
        target_type: str,
        target_id: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        await session.execute(
            insert(AuditLog).values(
                user_id=user_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                payload=payload or {},
            )
        )

    async def by_target(
        self, target_type: str, target_id: str, *, session: AsyncSession, limit: int = 100
    ) -> list[AuditLog]:
        return await self.find_many(
            session=session,
            target_type=target_type,
            target_id=target_id,
            order_by=[AuditLog.created_at, AuditLog.id],
            limit=limit,
        )

    async def listing(self, *, session: AsyncSession, user_id: str | None = None, limit: int = 100) -> list[AuditLog]:
        where = [AuditLog.user_id == user_id] if user_id is not None else []
        return await self.find_many(*where, session=session, order_by=[AuditLog.id.desc()], limit=limit)

    async def counts(self, *, session: AsyncSession, user_id: str | None = None) -> dict[tuple[str, str], int]:
        """How many entries per (target type, action)."""
        stmt = select(AuditLog.target_type, AuditLog.action, func.count()).group_by(
            AuditLog.target_type, AuditLog.action
        )
        if user_id is not None:
            stmt = stmt.where(AuditLog.user_id == user_id)
        return {(target, action): count for target, action, count in (await session.execute(stmt)).all()}
