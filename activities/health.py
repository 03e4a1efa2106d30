"""The health check's activities: one idempotent Postgres write each."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.deps import Deps
from activities.keys import activity_key
from contracts.health import (
    ConfirmHealthCheckInput,
    ConfirmHealthCheckResult,
    RecordHealthCheckInput,
    RecordHealthCheckResult,
)
from core.errors import NotFoundError
from db.idempotency import run_once
from db.repositories.health import HealthCheckRepository
from db.uow import unit_of_work


class HealthActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._checks = HealthCheckRepository()

    @activity.defn(name="health_record")
    async def record(self, input: RecordHealthCheckInput) -> RecordHealthCheckResult:
        """Insert the health_checks row, once per activity execution however often it is retried."""
        workflow_id = activity.info().workflow_id

        async def write(session: AsyncSession) -> RecordHealthCheckResult:
            row = await self._checks.create(
                session=session,
                check_id=input.check_id,
                message=input.message,
                database_version=await self._checks.server_version(session=session),
                workflow_id=workflow_id,
            )
            await session.refresh(row)
            return RecordHealthCheckResult.model_validate(row, from_attributes=True)

        async with unit_of_work(self._sessions) as session:
            once = await run_once(
                session,
                activity_key("health_record"),
                write,
                result_type=RecordHealthCheckResult,
                scope="health_record",
            )
        if once.replayed:
            activity.logger.info("health check %s was already recorded", input.check_id)
        return once.value

    @activity.defn(name="health_confirm")
    async def confirm(self, input: ConfirmHealthCheckInput) -> ConfirmHealthCheckResult:
        """Stamp confirmed_at; naturally idempotent (the first stamp is kept)."""
        async with unit_of_work(self._sessions) as session:
            row = await self._checks.confirm(input.check_id, session=session)
            if row is None:
                raise NotFoundError(f"health check {input.check_id!r} does not exist")
            return ConfirmHealthCheckResult.model_validate(row, from_attributes=True)
