"""The mirror's reports as plain dicts (JSON-ready), for the CLI and the admin API alike: the
reads are MirrorRepository's; this shapes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import NotFoundError
from db.models.mirror import Execution, ExecutionStep, JobAttempt, Timer
from db.repositories.mirror import MirrorRepository


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start is not None and end is not None else None


def execution_row(e: Execution) -> dict[str, Any]:
    return {
        "workflow_id": e.workflow_id,
        "run_id": e.run_id,
        "workflow_type": e.workflow_type,
        "status": e.status,
        "temporal_status": e.temporal_status,
        "task_queue": e.task_queue,
        "parent_workflow_id": e.parent_workflow_id,
        "team_id": e.team_id,
        "user_id": e.user_id,
        "discussion_id": e.discussion_id,
        "work_order_id": e.work_order_id,
        "start_time": _iso(e.start_time),
        "close_time": _iso(e.close_time),
        "seconds": _seconds(e.start_time, e.close_time),
        "error": e.error,
    }


def step_row(s: ExecutionStep) -> dict[str, Any]:
    return {
        "workflow_id": s.workflow_id,
        "run_id": s.run_id,
        "activity_id": s.activity_id,
        "name": s.name,
        "local": s.local,
        "status": s.status,
        "attempts": s.attempts,
        "scheduled_at": _iso(s.scheduled_at),
        "started_at": _iso(s.started_at),
        "finished_at": _iso(s.finished_at),
        "last_error": s.last_error,
    }


def attempt_row(a: JobAttempt) -> dict[str, Any]:
    return {
        "workflow_id": a.workflow_id,
        "run_id": a.run_id,
        "workflow_type": a.workflow_type,
        "activity_id": a.activity_id,
        "activity_type": a.activity_type,
        "attempt": a.attempt,
        "outcome": a.outcome,
        "worker_identity": a.worker_identity,
        "started_at": _iso(a.started_at),
        "ended_at": _iso(a.ended_at),
        "seconds": _seconds(a.started_at, a.ended_at),
        "error": a.error,
    }


def timer_row(t: Timer) -> dict[str, Any]:
    return {
        "workflow_id": t.workflow_id,
        "run_id": t.run_id,
        "timer_id": t.timer_id,
        "kind": t.kind,
        "activity_id": t.activity_id,
        "started_at": _iso(t.started_at),
        "fire_at": _iso(t.fire_at),
        "fired_at": _iso(t.fired_at),
        "cancelled": t.cancelled,
    }


async def executions(sessions: async_sessionmaker[AsyncSession], **filters: Any) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [execution_row(e) for e in await MirrorRepository().executions(session=session, **filters)]


async def steps(sessions: async_sessionmaker[AsyncSession], **filters: Any) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await MirrorRepository().steps(session=session, **filters)
    return [{**step_row(s), "workflow_type": e.workflow_type, "team_id": e.team_id} for s, e in rows]


async def attempts(sessions: async_sessionmaker[AsyncSession], **filters: Any) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [attempt_row(a) for a in await MirrorRepository().attempts(session=session, **filters)]


async def timers(sessions: async_sessionmaker[AsyncSession], **filters: Any) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await MirrorRepository().timers(session=session, **filters)
    return [{**timer_row(t), "workflow_type": e.workflow_type, "team_id": e.team_id} for t, e in rows]


async def run_timeline(
    sessions: async_sessionmaker[AsyncSession], workflow_id: str, *, run_id: str | None = None
) -> dict[str, Any]:
    """One run: its execution, and its steps, attempts (with errors) and timers merged in time
    order as one timeline, plus its history events."""
    repo = MirrorRepository()
    async with sessions() as session:
        if run_id is None:
            run = await repo.latest_run(workflow_id, session=session)
        else:
            run = await session.get(Execution, (workflow_id, run_id))
        if run is None:
            raise NotFoundError(f"the mirror has no run of workflow {workflow_id!r}")
        step_rows, attempt_rows, timer_rows, history = await repo.run_parts(
            run.workflow_id, run.run_id, session=session
        )
    names = {s.activity_id: s.name for s in step_rows}
    timeline: list[dict[str, Any]] = []
    for s in step_rows:
        timeline.append(
            {
                "at": _iso(s.scheduled_at),
                "kind": "step",
                "what": f"{s.name} ({s.activity_id}{', local' if s.local else ''})",
                "status": s.status,
                "detail": f"{s.attempts} attempt(s)" + (f"; last error: {s.last_error}" if s.last_error else ""),
            }
        )
    for a in attempt_rows:
        timeline.append(
            {
                "at": _iso(a.started_at),
                "kind": "attempt",
                "what": f"{a.activity_type} attempt {a.attempt}",
                "status": a.outcome,
                "detail": (a.error or "") + (f" [{a.worker_identity}]" if a.worker_identity else ""),
            }
        )
    for t in timer_rows:
        what = (
            f"retry wait of {names.get(t.activity_id or '', t.activity_id)}"
            if t.kind == "retry"
            else f"sleep {t.timer_id}"
        )
        state = "cancelled" if t.cancelled else ("fired" if t.fired_at else "waiting")
        timeline.append(
            {
                "at": _iso(t.started_at),
                "kind": "timer",
                "what": what,
                "status": state,
                "detail": f"fire at {_iso(t.fire_at)}" + (f", fired {_iso(t.fired_at)}" if t.fired_at else ""),
            }
        )
    order = {"step": 0, "attempt": 1, "timer": 2}
    timeline.sort(key=lambda item: (item["at"] or "", order[item["kind"]]))
    return {
        "execution": execution_row(run),
        "steps": [step_row(s) for s in step_rows],
        "attempts": [attempt_row(a) for a in attempt_rows],
        "timers": [timer_row(t) for t in timer_rows],
        "timeline": timeline,
        "history": [
            {"event_id": h.event_id, "at": _iso(h.event_time), "kind": h.kind, "summary": h.summary} for h in history
        ],
    }


async def failures(
    sessions: async_sessionmaker[AsyncSession], *, hours: float = 24, team_id: str | None = None
) -> dict[str, Any]:
    """Failed steps by activity and error, and attempts that did not complete, in the last `hours`
    (of one team's runs when `team_id` is given)."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    repo = MirrorRepository()
    async with sessions() as session:
        failed_steps = await repo.failures(session=session, since=since, team_id=team_id)
        failed_attempts = await repo.failed_attempts(session=session, since=since, team_id=team_id)
    for row in failed_steps:
        row["last_at"] = _iso(row["last_at"])
    return {"since": since.isoformat(), "steps": failed_steps, "attempts": failed_attempts}
