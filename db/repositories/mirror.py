"""The engine mirror's reads and writes: upserts of projected runs and recorded attempts, the
feed's position, the reports, and pruning by age. Every write is idempotent (keyed upserts), so
a run projected twice, or an attempt recorded twice, leaves the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, delete, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import table_of
from db.models.mirror import (
    FINAL_EXECUTION_STATUSES,
    Execution,
    ExecutionHistoryEvent,
    ExecutionStep,
    JobAttempt,
    MirrorPosition,
    Timer,
)

# Upserts are statements compiled once and run for many rows (executemany: SQLAlchemy batches
# them into multi-row INSERTs itself), so a tick's writes cost no compilation.

EXECUTIONS = table_of(Execution)
STEPS = table_of(ExecutionStep)
ATTEMPTS = table_of(JobAttempt)
TIMERS = table_of(Timer)
HISTORY = table_of(ExecutionHistoryEvent)
POSITIONS = table_of(MirrorPosition)

RunKey = tuple[str, str]


def _runs_of_team(team_id: str) -> Any:
    """(workflow_id, run_id) of the team's mirrored runs, for an IN."""
    return select(Execution.workflow_id, Execution.run_id).where(Execution.team_id == team_id)


class MirrorRepository:
    """Writes of the mirror feed and the attempt recorder; reads of the reports."""

    # -- projected runs -----------------------------------------------------------------------

    async def upsert_runs(
        self,
        *,
        session: AsyncSession,
        executions: Sequence[dict[str, Any]],
        steps: Sequence[dict[str, Any]],
        timers: Sequence[dict[str, Any]],
        history: Sequence[dict[str, Any]],
    ) -> None:
        """Write projected rows; a row already as projected is left untouched (so `mirrored_at`
        says when a run's row last changed, e.g. became final)."""
        if executions:
            stmt = insert(EXECUTIONS)
            columns = [c.name for c in EXECUTIONS.c if c.name not in ("workflow_id", "run_id", "mirrored_at")]
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["workflow_id", "run_id"],
                    set_={**{c: stmt.excluded[c] for c in columns}, "mirrored_at": func.now()},
                    where=or_(
                        EXECUTIONS.c.history_length != stmt.excluded.history_length,
                        EXECUTIONS.c.status != stmt.excluded.status,
                    ),
                ),
                list(executions),
            )
        await self._upsert(session, STEPS, steps, ["workflow_id", "run_id", "activity_id"])
        await self._upsert(session, TIMERS, timers, ["workflow_id", "run_id", "timer_id"])
        if history:
            await session.execute(insert(HISTORY).on_conflict_do_nothing(), list(history))
        await session.flush()

    async def _upsert(self, session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        if rows:
            stmt = insert(table)
            columns = [c.name for c in table.c if c.name not in keys]
            changed = or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in columns))
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=keys, set_={c: stmt.excluded[c] for c in columns}, where=changed
                ),
                list(rows),
            )

    async def settle_attempts(self, runs: Sequence[RunKey], *, session: AsyncSession) -> int:
        """Attempts still `running` that history has moved past: `lost` when a later attempt
        started or the step ended without it (its worker died), `timed_out` when the step's
        last attempt timed out, `completed` when it is the attempt history shows completing
        (its worker's own record is still on its way). Returns how many changed."""
        if not runs:
            return 0
        s = STEPS
        a = ATTEMPTS
        last = a.c.attempt == s.c.attempts
        outcome = case(
            (and_(last, s.c.status == "completed"), literal("completed")),
            (and_(last, s.c.status == "failed", s.c.last_error.ilike("%timeout%")), literal("timed_out")),
            else_=literal("lost"),
        )
        result = await session.execute(
            update(a)
            .where(
                a.c.workflow_id == s.c.workflow_id,
                a.c.run_id == s.c.run_id,
                a.c.activity_id == s.c.activity_id,
                a.c.outcome == "running",
                or_(a.c.attempt < s.c.attempts, s.c.status.in_(("completed", "failed", "skipped"))),
                tuple_(a.c.workflow_id, a.c.run_id).in_(list(runs)),
            )
            .values(outcome=outcome, ended_at=func.coalesce(a.c.ended_at, s.c.finished_at, func.now()))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def final_runs(self, runs: Sequence[RunKey], *, session: AsyncSession) -> set[RunKey]:
        """Which of `runs` the mirror already has closed."""
        if not runs:
            return set()
        rows = await session.execute(
            select(EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id).where(
                tuple_(EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id).in_(list(runs)),
                EXECUTIONS.c.close_time.is_not(None),
            )
        )
        return {(r[0], r[1]) for r in rows}

    async def history_lengths(self, runs: Sequence[RunKey], *, session: AsyncSession) -> dict[RunKey, tuple[int, str]]:
        """(history length, status) the mirror has for each of `runs` it knows."""
        if not runs:
            return {}
        rows = await session.execute(
            select(
                EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id, EXECUTIONS.c.history_length, EXECUTIONS.c.status
            ).where(tuple_(EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id).in_(list(runs)))
        )
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    async def open_runs(self, *, session: AsyncSession, status: str | None = None) -> list[RunKey]:
        """Runs the mirror still has open (pending, running or paused), or only those in `status`."""
        query = select(EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id).where(EXECUTIONS.c.close_time.is_(None))
        if status is not None:
            query = query.where(EXECUTIONS.c.status == status)
        rows = await session.execute(query)
        return [(r[0], r[1]) for r in rows]

    # -- attempts -----------------------------------------------------------------------------

    async def record_attempts(self, rows: Sequence[dict[str, Any]], *, session: AsyncSession) -> None:
        """Insert or complete attempt rows; an ended attempt is never set back to running."""
        if rows:
            stmt = insert(ATTEMPTS)
            ended = stmt.excluded.outcome != "running"
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["workflow_id", "run_id", "activity_id", "attempt"],
                    set_={
                        "outcome": case((ended, stmt.excluded.outcome), else_=ATTEMPTS.c.outcome),
                        "ended_at": case((ended, stmt.excluded.ended_at), else_=ATTEMPTS.c.ended_at),
                        "error": case((ended, stmt.excluded.error), else_=ATTEMPTS.c.error),
                        "started_at": func.least(ATTEMPTS.c.started_at, stmt.excluded.started_at),
                    },
                ),
                list(rows),
            )
        await session.flush()

    async def attempts_of(self, runs: Sequence[RunKey], *, session: AsyncSession) -> dict[RunKey, list[JobAttempt]]:
        if not runs:
            return {}
        found: dict[RunKey, list[JobAttempt]] = {}
        rows = await session.scalars(
            select(JobAttempt).where(tuple_(JobAttempt.workflow_id, JobAttempt.run_id).in_(list(runs)))
        )
        for row in rows:
            found.setdefault((row.workflow_id, row.run_id), []).append(row)
        return found

    # -- position -----------------------------------------------------------------------------

    async def position(self, name: str, *, session: AsyncSession) -> MirrorPosition | None:
        return await session.get(MirrorPosition, name)

    async def advance(self, name: str, *, watermark: datetime | None, mirrored: int, session: AsyncSession) -> None:
        """Move the feed's close watermark forward (never back) and count the runs it mirrored."""
        stmt = insert(POSITIONS).values(name=name, close_watermark=watermark, runs_mirrored=mirrored)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "close_watermark": func.greatest(POSITIONS.c.close_watermark, stmt.excluded.close_watermark),
                    "runs_mirrored": POSITIONS.c.runs_mirrored + stmt.excluded.runs_mirrored,
                    "updated_at": func.now(),
                },
            )
        )

    # -- reports ------------------------------------------------------------------------------

    async def executions(
        self,
        *,
        session: AsyncSession,
        workflow_type: str | None = None,
        status: str | None = None,
        team_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> Sequence[Execution]:
        query = select(Execution).order_by(Execution.start_time.desc()).limit(limit)
        if workflow_type:
            query = query.where(Execution.workflow_type == workflow_type)
        if status:
            query = query.where(Execution.status == status)
        if team_id:
            query = query.where(Execution.team_id == team_id)
        if since:
            query = query.where(Execution.start_time >= since)
        if until:
            query = query.where(Execution.start_time < until)
        return (await session.scalars(query)).all()

    async def steps(
        self,
        *,
        session: AsyncSession,
        workflow_type: str | None = None,
        status: str | None = None,
        team_id: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> Sequence[Row[ExecutionStep, Execution]]:
        query = (
            select(ExecutionStep, Execution)
            .join(
                Execution,
                and_(Execution.workflow_id == ExecutionStep.workflow_id, Execution.run_id == ExecutionStep.run_id),
            )
            .order_by(ExecutionStep.scheduled_at.desc())
            .limit(limit)
        )
        if workflow_type:
            query = query.where(Execution.workflow_type == workflow_type)
        if status:
            query = query.where(ExecutionStep.status == status)
        if team_id:
            query = query.where(Execution.team_id == team_id)
        if name:
            query = query.where(ExecutionStep.name == name)
        if since:
            query = query.where(ExecutionStep.scheduled_at >= since)
        if until:
            query = query.where(ExecutionStep.scheduled_at < until)
        return (await session.execute(query)).all()

    async def attempts(
        self,
        *,
        session: AsyncSession,
        workflow_type: str | None = None,
        outcome: str | None = None,
        team_id: str | None = None,
        activity_type: str | None = None,
        workflow_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> Sequence[JobAttempt]:
        query = select(JobAttempt).order_by(JobAttempt.started_at.desc()).limit(limit)
        if workflow_type:
            query = query.where(JobAttempt.workflow_type == workflow_type)
        if outcome:
            query = query.where(JobAttempt.outcome == outcome)
        if team_id:
            query = query.where(tuple_(JobAttempt.workflow_id, JobAttempt.run_id).in_(_runs_of_team(team_id)))
        if activity_type:
            query = query.where(JobAttempt.activity_type == activity_type)
        if workflow_id:
            query = query.where(JobAttempt.workflow_id == workflow_id)
        if since:
            query = query.where(JobAttempt.started_at >= since)
        if until:
            query = query.where(JobAttempt.started_at < until)
        return (await session.scalars(query)).all()

    async def timers(
        self,
        *,
        session: AsyncSession,
        workflow_type: str | None = None,
        kind: str | None = None,
        team_id: str | None = None,
        pending: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> Sequence[Row[Timer, Execution]]:
        query = (
            select(Timer, Execution)
            .join(Execution, and_(Execution.workflow_id == Timer.workflow_id, Execution.run_id == Timer.run_id))
            .order_by(Timer.started_at.desc())
            .limit(limit)
        )
        if workflow_type:
            query = query.where(Execution.workflow_type == workflow_type)
        if kind:
            query = query.where(Timer.kind == kind)
        if team_id:
            query = query.where(Execution.team_id == team_id)
        if pending:
            query = query.where(Timer.fired_at.is_(None), Timer.cancelled.is_(False))
        if since:
            query = query.where(Timer.started_at >= since)
        if until:
            query = query.where(Timer.started_at < until)
        return (await session.execute(query)).all()

    async def latest_run(self, workflow_id: str, *, session: AsyncSession) -> Execution | None:
        return await session.scalar(
            select(Execution).where(Execution.workflow_id == workflow_id).order_by(Execution.start_time.desc()).limit(1)
        )

    async def run_parts(
        self, workflow_id: str, run_id: str, *, session: AsyncSession
    ) -> tuple[Sequence[ExecutionStep], Sequence[JobAttempt], Sequence[Timer], Sequence[ExecutionHistoryEvent]]:
        """A run's steps, attempts, timers and history events, each in time order."""
        key = (workflow_id, run_id)
        steps = (
            await session.scalars(
                select(ExecutionStep)
                .where(tuple_(ExecutionStep.workflow_id, ExecutionStep.run_id) == key)
                .order_by(ExecutionStep.scheduled_at, ExecutionStep.activity_id)
            )
        ).all()
        attempts = (
            await session.scalars(
                select(JobAttempt)
                .where(tuple_(JobAttempt.workflow_id, JobAttempt.run_id) == key)
                .order_by(JobAttempt.started_at, JobAttempt.attempt)
            )
        ).all()
        timers = (
            await session.scalars(
                select(Timer).where(tuple_(Timer.workflow_id, Timer.run_id) == key).order_by(Timer.started_at)
            )
        ).all()
        history = (
            await session.scalars(
                select(ExecutionHistoryEvent)
                .where(tuple_(ExecutionHistoryEvent.workflow_id, ExecutionHistoryEvent.run_id) == key)
                .order_by(ExecutionHistoryEvent.event_id)
            )
        ).all()
        return steps, attempts, timers, history

    async def failures(
        self, *, session: AsyncSession, since: datetime, team_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Failed steps since `since` (of one team's runs), counted by activity and error (most frequent first)."""
        query = (
            select(
                ExecutionStep.name,
                ExecutionStep.last_error,
                func.count().label("failures"),
                func.count(func.distinct(ExecutionStep.workflow_id)).label("workflows"),
                func.max(ExecutionStep.finished_at).label("last_at"),
            )
            .where(ExecutionStep.status == "failed", ExecutionStep.finished_at >= since)
            .group_by(ExecutionStep.name, ExecutionStep.last_error)
            .order_by(func.count().desc(), ExecutionStep.name)
        )
        if team_id is not None:
            query = query.where(tuple_(ExecutionStep.workflow_id, ExecutionStep.run_id).in_(_runs_of_team(team_id)))
        rows = await session.execute(query)
        return [
            {
                "activity": r.name,
                "error": r.last_error,
                "failures": r.failures,
                "workflows": r.workflows,
                "last_at": r.last_at,
            }
            for r in rows
        ]

    async def failed_attempts(
        self, *, session: AsyncSession, since: datetime, team_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Attempts that did not complete since `since` (of one team's runs), by activity, outcome and error."""
        query = (
            select(JobAttempt.activity_type, JobAttempt.outcome, JobAttempt.error, func.count().label("attempts"))
            .where(JobAttempt.outcome.in_(("failed", "lost", "timed_out")), JobAttempt.started_at >= since)
            .group_by(JobAttempt.activity_type, JobAttempt.outcome, JobAttempt.error)
            .order_by(func.count().desc(), JobAttempt.activity_type)
        )
        if team_id is not None:
            query = query.where(tuple_(JobAttempt.workflow_id, JobAttempt.run_id).in_(_runs_of_team(team_id)))
        rows = await session.execute(query)
        return [
            {"activity": r.activity_type, "outcome": r.outcome, "error": r.error, "attempts": r.attempts} for r in rows
        ]

    async def counts(self, *, session: AsyncSession) -> dict[str, int]:
        """Rows per mirror table, and the open runs."""
        found: dict[str, int] = {}
        for name, table in (
            ("executions", EXECUTIONS),
            ("execution_steps", STEPS),
            ("job_attempts", ATTEMPTS),
            ("timers", TIMERS),
            ("execution_history", HISTORY),
        ):
            found[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
        found["open_executions"] = int(
            await session.scalar(select(func.count()).select_from(EXECUTIONS).where(EXECUTIONS.c.close_time.is_(None)))
            or 0
        )
        return found

    async def lag_seconds(self, *, session: AsyncSession, since: datetime) -> list[float]:
        """For runs closed since `since`: seconds from the close in Temporal to the final row here."""
        rows = await session.scalars(
            select(func.extract("epoch", EXECUTIONS.c.mirrored_at - EXECUTIONS.c.close_time)).where(
                EXECUTIONS.c.close_time >= since, EXECUTIONS.c.status.in_(FINAL_EXECUTION_STATUSES)
            )
        )
        return [float(v) for v in rows]

    async def snapshot(
        self, *, session: AsyncSession, since: datetime | None = None
    ) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
        """Every projected row (all but attempts) by key, without the mirror's own bookkeeping:
        what `intake mirror rebuild` compares."""
        found: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
        for name, table, keys in (
            ("executions", EXECUTIONS, ("workflow_id", "run_id")),
            ("execution_steps", STEPS, ("workflow_id", "run_id", "activity_id")),
            ("timers", TIMERS, ("workflow_id", "run_id", "timer_id")),
            ("execution_history", HISTORY, ("workflow_id", "run_id", "event_id")),
        ):
            columns = [c for c in table.c if c.name not in keys and c.name != "mirrored_at"]
            query = select(*(table.c[k] for k in keys), *columns)
            if since is not None:
                query = query.where(
                    tuple_(table.c.workflow_id, table.c.run_id).in_(
                        select(EXECUTIONS.c.workflow_id, EXECUTIONS.c.run_id).where(EXECUTIONS.c.start_time >= since)
                    )
                )
            rows = await session.execute(query)
            found[name] = {tuple(r[: len(keys)]): tuple(r[len(keys) :]) for r in rows}
        return found

    # -- retention ----------------------------------------------------------------------------

    async def prune(self, cutoff: datetime, *, session: AsyncSession) -> dict[str, int]:
        """Delete runs closed before `cutoff` (their steps, timers and history with them) and
        attempts started before it."""
        runs = await session.execute(delete(EXECUTIONS).where(EXECUTIONS.c.close_time < cutoff))
        attempts = await session.execute(delete(ATTEMPTS).where(ATTEMPTS.c.started_at < cutoff))
        await session.flush()
        return {
            "executions": int(getattr(runs, "rowcount", 0) or 0),
            "job_attempts": int(getattr(attempts, "rowcount", 0) or 0),
        }

    async def delete_projected(self, *, session: AsyncSession, since: datetime | None = None) -> None:
        """Empty the projected tables (not attempts), for a rebuild from scratch."""
        query = delete(EXECUTIONS)
        if since is not None:
            query = query.where(EXECUTIONS.c.start_time >= since)
        await session.execute(query)
