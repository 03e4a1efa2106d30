"""`intake report ...`: what the pipelines did, from the Postgres tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.output import clip, console, print_json
from cli.runtime import with_sessions
from cli.signals import timeline
from core.errors import InvalidInputError
from core.settings import Settings
from db.models.mirror import ATTEMPT_OUTCOMES, EXECUTION_STATUSES, STEP_STATUSES, TIMER_KINDS
from db.repositories.discussions import JobRepository

app = typer.Typer(
    help="Reports: jobs, timelines, previews; the engine mirror's runs, steps, attempts, timers and failures.",
    no_args_is_help=True,
)
app.command()(timeline)


@app.command()
def jobs(
    status: str = typer.Option(None, help="pending, processing, completed or failed."),
    team: str = typer.Option(None, help="Only this team's jobs."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Discussion jobs, newest first."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
        async with sessions() as session:
            rows = await JobRepository().listing(session=session, status=status, team_id=team, limit=limit)
        return [
            {
                "id": str(job.id),
                "team_id": job.team_id,
                "source_type": job.source_type,
                "status": job.status,
                "stage": job.stage,
                "discussion_id": str(job.discussion_id) if job.discussion_id else None,
                "error": job.error,
                "created_at": job.created_at.isoformat(),
                "completed_at": job.completed_at.isoformat() if job.completed_at else None,
                "processing_ms": job.job_metadata.get("processingTime"),
                "is_retry": bool(job.job_metadata.get("isRetry")),
            }
            for job in rows
        ]

    rows = with_sessions(Settings(), load)
    if as_json:
        print_json(rows)
        return
    table = Table("job", "team", "source", "status", "stage", "ms", "retry", "error")
    for row in rows:
        table.add_row(
            row["id"],
            row["team_id"],
            row["source_type"],
            row["status"],
            row["stage"],
            str(row["processing_ms"] or ""),
            "yes" if row["is_retry"] else "",
            clip(row["error"], 60),
        )
    console.print(table)
    console.print(f"{len(rows)} jobs")


@app.command()
def preview(
    limit: int = typer.Option(20, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The newest work orders with their export status."""
    from client.work_orders import load_preview

    rows = with_sessions(Settings(), lambda sessions: load_preview(sessions, limit=limit))
    if as_json:
        print_json(rows)
        return
    table = Table("workspace", "work order", "site", "date", "amount", "status", "export", "row", "error")
    for row in rows:
        table.add_row(
            row["workspace"],
            row["work_order_number"],
            clip(row["site"], 32),
            row["scheduled_date"] or "",
            row["amount"] or "",
            row["status"],
            f"{row['export_status'] or '-'} ({row['export_attempts']})",
            str(row["sheet_row"] or ""),
            clip(row["export_error"], 50),
        )
    console.print(table)
    console.print(f"{len(rows)} work orders")


# -- the engine mirror ------------------------------------------------------------------------

TYPE = typer.Option(None, "--type", help="Only this workflow type, e.g. DiscussionWorkflow.")
TEAM = typer.Option(None, help="Only this team's runs (IntakeTeamId).")
SINCE = typer.Option(None, help="From: 24h, 30m, 7d ago, or an ISO date/time.")
UNTIL = typer.Option(None, help="Until: as --since.")
LIMIT = typer.Option(50, min=1, max=10_000)
JSON = typer.Option(False, "--json")


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInputError(f"{option} {value!r}: one of {', '.join(allowed)}")
    return value


def _mirror_report(
    report: str,
    filters: dict[str, Any],
    *,
    since: str | None,
    until: str | None,
    as_json: bool,
    columns: tuple[str, ...],
    cells: Callable[[dict[str, Any]], tuple[str, ...]],
    noun: str,
) -> None:
    """One of the mirror's reports (a function of client.mirror_reports) with the time window parsed,
    as JSON or as a table of `columns` (a row's `cells`) with its count."""
    from cli.mirror import parse_moment
    from client import mirror_reports

    filters |= {"since": parse_moment(since, option="--since"), "until": parse_moment(until, option="--until")}
    load = getattr(mirror_reports, report)
    rows = with_sessions(Settings(), lambda sessions: load(sessions, **filters))
    if as_json:
        print_json(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*cells(row))
    console.print(table)
    console.print(f"{len(rows)} {noun}")


def _seconds(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@app.command()
def executions(
    workflow_type: str = TYPE,
    status: str = typer.Option(None, help="pending, running, paused, completed, failed or cancelled."),
    team: str = TEAM,
    since: str = SINCE,
    until: str = UNTIL,
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Workflow runs as the mirror has them, newest first."""
    _mirror_report(
        "executions",
        {
            "workflow_type": workflow_type,
            "status": _choice(status, EXECUTION_STATUSES, "--status"),
            "team_id": team,
            "limit": limit,
        },
        since=since,
        until=until,
        as_json=as_json,
        columns=("workflow", "type", "status", "team", "started", "seconds", "error"),
        cells=lambda row: (
            row["workflow_id"],
            row["workflow_type"],
            row["status"],
            row["team_id"] or "",
            row["start_time"],
            _seconds(row["seconds"], 1),
            clip(row["error"], 50),
        ),
        noun="runs",
    )


@app.command()
def steps(
    workflow_type: str = TYPE,
    status: str = typer.Option(None, help="pending, running, completed, failed or skipped."),
    team: str = TEAM,
    name: str = typer.Option(None, help="Only this activity, e.g. discussion_analyze."),
    since: str = SINCE,
    until: str = UNTIL,
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Activity steps of the mirrored runs, newest first."""
    _mirror_report(
        "steps",
        {
            "workflow_type": workflow_type,
            "status": _choice(status, STEP_STATUSES, "--status"),
            "team_id": team,
            "name": name,
            "limit": limit,
        },
        since=since,
        until=until,
        as_json=as_json,
        columns=("workflow", "step", "activity", "status", "attempts", "finished", "last error"),
        cells=lambda row: (
            row["workflow_id"],
            row["activity_id"],
            row["name"],
            row["status"],
            str(row["attempts"]),
            row["finished_at"] or "",
            clip(row["last_error"], 50),
        ),
        noun="steps",
    )


@app.command()
def attempts(
    workflow_type: str = TYPE,
    outcome: str = typer.Option(None, help="running, completed, failed, cancelled, lost or timed_out."),
    team: str = TEAM,
    activity: str = typer.Option(None, help="Only this activity type."),
    workflow_id: str = typer.Option(None, "--workflow", help="Only this workflow id."),
    since: str = SINCE,
    until: str = UNTIL,
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Activity attempts as the workers recorded them, newest first."""
    _mirror_report(
        "attempts",
        {
            "workflow_type": workflow_type,
            "outcome": _choice(outcome, ATTEMPT_OUTCOMES, "--outcome"),
            "team_id": team,
            "activity_type": activity,
            "workflow_id": workflow_id,
            "limit": limit,
        },
        since=since,
        until=until,
        as_json=as_json,
        columns=("workflow", "activity", "attempt", "outcome", "worker", "started", "seconds", "error"),
        cells=lambda row: (
            row["workflow_id"],
            row["activity_type"],
            str(row["attempt"]),
            row["outcome"],
            row["worker_identity"],
            row["started_at"],
            _seconds(row["seconds"], 2),
            clip(row["error"], 50),
        ),
        noun="attempts",
    )


@app.command()
def timers(
    workflow_type: str = TYPE,
    kind: str = typer.Option(None, help="sleep (a workflow timer) or retry (an activity's retry wait)."),
    team: str = TEAM,
    pending: bool = typer.Option(False, help="Only timers not fired or cancelled yet."),
    since: str = SINCE,
    until: str = UNTIL,
    limit: int = LIMIT,
    as_json: bool = JSON,
) -> None:
    """Durable waits of the mirrored runs (sleeps and retry waits), newest first."""
    _mirror_report(
        "timers",
        {
            "workflow_type": workflow_type,
            "kind": _choice(kind, TIMER_KINDS, "--kind"),
            "team_id": team,
            "pending": pending,
            "limit": limit,
        },
        since=since,
        until=until,
        as_json=as_json,
        columns=("workflow", "timer", "kind", "started", "fire at", "fired", "cancelled"),
        cells=lambda row: (
            row["workflow_id"],
            row["timer_id"],
            row["kind"],
            row["started_at"],
            row["fire_at"],
            row["fired_at"] or "",
            "yes" if row["cancelled"] else "",
        ),
        noun="timers",
    )


@app.command()
def run(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    run_id: str = typer.Option(None, "--run-id", help="One run (default: the latest)."),
    history: bool = typer.Option(False, help="Also every history event."),
    as_json: bool = JSON,
) -> None:
    """One run's timeline: its steps, attempts with their errors, and timers, in order."""
    from client import mirror_reports

    out = with_sessions(Settings(), lambda sessions: mirror_reports.run_timeline(sessions, workflow_id, run_id=run_id))
    if as_json:
        print_json(out)
        return
    e = out["execution"]
    console.print(
        f"{e['workflow_type']} {e['workflow_id']} run {e['run_id']}: {e['status']}"
        + (f" ({e['temporal_status']})" if e["temporal_status"] != e["status"] else "")
        + f", started {e['start_time']}"
        + (f", closed {e['close_time']}" if e["close_time"] else "")
    )
    if e["error"]:
        console.print(f"error: {e['error']}")
    table = Table("at", "kind", "what", "status", "detail")
    for item in out["timeline"]:
        table.add_row(item["at"] or "", item["kind"], item["what"], item["status"], clip(item["detail"], 80))
    console.print(table)
    if history:
        events = Table("event", "at", "kind", "summary")
        for h in out["history"]:
            events.add_row(str(h["event_id"]), h["at"], h["kind"], clip(h["summary"], 80))
        console.print(events)


@app.command()
def failures(
    hours: float = typer.Option(24.0, min=0.01, help="How far back."),
    team: str = TEAM,
    as_json: bool = JSON,
) -> None:
    """Failed steps by activity and error (and attempts that did not complete), last 24 h."""
    from client import mirror_reports

    out = with_sessions(Settings(), lambda sessions: mirror_reports.failures(sessions, hours=hours, team_id=team))
    if as_json:
        print_json(out)
        return
    table = Table("activity", "failed steps", "workflows", "last", "error")
    for row in out["steps"]:
        table.add_row(
            row["activity"], str(row["failures"]), str(row["workflows"]), row["last_at"] or "", clip(row["error"], 70)
        )
    console.print(f"failed steps since {out['since']}")
    console.print(table)
    attempts_table = Table("activity", "outcome", "attempts", "error")
    for row in out["attempts"]:
        attempts_table.add_row(row["activity"], row["outcome"], str(row["attempts"]), clip(row["error"], 70))
    console.print("attempts that did not complete")
    console.print(attempts_table)
