"""`intake workflow ...`, `intake activity ...` and `intake mirror ...`: operations on runs
(client/operations.py) and the engine mirror's process, status and rebuild (client/mirror_feed.py)."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import console, err_console, fail, print_json
from client import operations
from client.mirror_feed import rebuild as rebuild_mirror
from client.mirror_feed import serve
from client.mirror_feed import status as mirror_status
from core.errors import InvalidInputError
from core.settings import Settings
from core.temporal import connect, ui_link, ui_list_link
from db.engine import create_sessionmaker, engine_from_settings

workflow_app = typer.Typer(
    help="Operations on workflow runs: pause, resume, cancel, terminate, reset (one, or --query).",
    no_args_is_help=True,
)
activity_app = typer.Typer(help="Pause or resume one activity of a run.", no_args_is_help=True)
mirror_app = typer.Typer(help="The engine mirror: what Temporal ran, in PostgreSQL.", no_args_is_help=True)

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_moment(value: str | None, *, option: str) -> datetime | None:
    """`24h`, `30m`, `7d` (that long ago) or an ISO date / time (UTC unless it says)."""
    if value is None:
        return None
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{option} {value!r} is neither a duration like 24h / 30m / 7d nor an ISO date or time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _one_or_query(workflow_id: str | None, query: str | None, *, verb: str, query_allowed: bool) -> None:
    if query is not None and not query_allowed:
        fail(f"`intake workflow {verb}` takes one WORKFLOW_ID (by query: cancel, terminate, reset)")
    if (workflow_id is None) == (query is None):
        fail("give one WORKFLOW_ID or --query, not both" if workflow_id else "give a WORKFLOW_ID or --query")


def _run_batch(kind: operations.BatchKind, query: str, reason: str, to: operations.ResetTo, as_json: bool) -> None:
    settings = Settings()

    async def run() -> operations.BatchResult:
        client = await connect(settings)
        job_id = await operations.start_batch(client, kind, query, reason=reason, to=to)
        return await operations.wait_for_batch(client, job_id)

    result = asyncio.run(run())
    if as_json:
        print_json({"operation": kind, "query": query, **result.as_dict()})
    else:
        console.print(
            f"{kind} by query: batch {result.job_id} {result.state}: "
            f"{result.completed} of {result.total} runs done, {result.failed} failed"
        )
        if link := ui_list_link(settings, query):
            console.print(f"runs: {link}")
    if result.failed or result.state == "failed":
        raise typer.Exit(1)


def _one(
    verb: str, workflow_id: str, action: Any, as_json: bool, run_id: str | None, extra: dict[str, Any] | None = None
) -> None:
    settings = Settings()

    async def run() -> Any:
        client = await connect(settings)
        return await action(client)

    answer = asyncio.run(run())
    out = {"operation": verb, "workflow_id": workflow_id, "run_id": run_id, **(extra or {})}
    if isinstance(answer, str):
        out["new_run_id"] = answer
    out["ui"] = ui_link(settings, workflow_id, out.get("new_run_id") or run_id)
    if as_json:
        print_json(out)
        return
    line = f"{verb}: {workflow_id}" + (f" (new run {answer})" if isinstance(answer, str) else "")
    console.print(line)
    if out["ui"]:
        console.print(f"run: {out['ui']}")


RUN_ID = typer.Option(None, "--run-id", help="One run of the workflow (default: its latest).")
REASON = typer.Option("", help="Why (kept by Temporal with the operation).")
QUERY = typer.Option(
    None, help="""A visibility query instead of one id, e.g. "IntakeTeamId='acme' AND ExecutionStatus='Failed'"."""
)
JSON = typer.Option(False, "--json")


@workflow_app.command()
def pause(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    run_id: str = RUN_ID,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Pause a running workflow: nothing of it is dispatched until it is resumed."""
    _one(
        "paused",
        workflow_id,
        lambda c: operations.pause_workflow(c, workflow_id, run_id=run_id, reason=reason),
        as_json,
        run_id,
    )


@workflow_app.command()
def resume(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    run_id: str = RUN_ID,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Resume a paused workflow."""
    _one(
        "resumed",
        workflow_id,
        lambda c: operations.resume_workflow(c, workflow_id, run_id=run_id, reason=reason),
        as_json,
        run_id,
    )


@workflow_app.command()
def cancel(
    workflow_id: str = typer.Argument(None, help="The workflow id (or --query)."),
    query: str = QUERY,
    run_id: str = RUN_ID,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Ask a run (or every run the query matches, as a batch operation) to cancel."""
    _one_or_query(workflow_id, query, verb="cancel", query_allowed=True)
    if query is not None:
        _run_batch("cancel", query, reason, "last", as_json)
        return
    _one(
        "cancel requested",
        workflow_id,
        lambda c: operations.cancel_workflow(c, workflow_id, run_id=run_id),
        as_json,
        run_id,
    )


@workflow_app.command()
def terminate(
    workflow_id: str = typer.Argument(None, help="The workflow id (or --query)."),
    query: str = QUERY,
    run_id: str = RUN_ID,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """End a run at once (or every run the query matches)."""
    _one_or_query(workflow_id, query, verb="terminate", query_allowed=True)
    if query is not None:
        _run_batch("terminate", query, reason, "last", as_json)
        return
    _one(
        "terminated",
        workflow_id,
        lambda c: operations.terminate_workflow(c, workflow_id, run_id=run_id, reason=reason),
        as_json,
        run_id,
    )


@workflow_app.command()
def reset(
    workflow_id: str = typer.Argument(None, help="The workflow id (or --query)."),
    query: str = QUERY,
    run_id: str = RUN_ID,
    to: str = typer.Option("last", help="last or first: the completed workflow task to reset to."),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Reset a run (or every run the query matches) to its last (or first) completed workflow task."""
    _one_or_query(workflow_id, query, verb="reset", query_allowed=True)
    if to not in ("last", "first"):
        fail(f"--to {to!r}: last or first")
    point: operations.ResetTo = "last" if to == "last" else "first"
    if query is not None:
        _run_batch("reset", query, reason, point, as_json)
        return
    _one(
        "reset",
        workflow_id,
        lambda c: operations.reset_workflow(c, workflow_id, run_id=run_id, to=point, reason=reason),
        as_json,
        run_id,
    )


@activity_app.command("pause")
def pause_activity(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    activity: str = typer.Argument(..., help="The activity's id (e.g. 3) or type (e.g. discussion_analyze)."),
    run_id: str = RUN_ID,
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Pause an activity of a run: it is not retried or dispatched until resumed."""
    _one(
        f"paused activity {activity}",
        workflow_id,
        lambda c: operations.pause_activity(c, workflow_id, activity, run_id=run_id, reason=reason),
        as_json,
        run_id,
        {"activity": activity},
    )


@activity_app.command("resume")
def resume_activity(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    activity: str = typer.Argument(..., help="The activity's id or type."),
    run_id: str = RUN_ID,
    as_json: bool = JSON,
) -> None:
    """Resume a paused activity."""
    _one(
        f"resumed activity {activity}",
        workflow_id,
        lambda c: operations.resume_activity(c, workflow_id, activity, run_id=run_id),
        as_json,
        run_id,
        {"activity": activity},
    )


# -- the mirror -------------------------------------------------------------------------------


@mirror_app.command("run")
def run_mirror() -> None:
    """Keep the mirror current until Ctrl-C / SIGTERM (waits for Temporal and PostgreSQL first)."""
    settings = Settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, say=lambda line: err_console.print(line, highlight=False))

    asyncio.run(main())


@mirror_app.command("status")
def status_command(as_json: bool = JSON) -> None:
    """The mirror's lag and last position."""
    settings = Settings()

    async def run() -> dict[str, Any]:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            return await mirror_status(client, create_sessionmaker(engine), scope=settings.mirror_query)
        finally:
            await engine.dispose()

    out = asyncio.run(run())
    if as_json:
        print_json(out)
        return
    console.print(
        f"position: runs closed up to {out['close_watermark'] or '-'} "
        f"(updated {out['position_updated_at'] or 'never'}, {out['runs_mirrored']} runs mirrored)"
    )
    console.print(f"behind: {out['closed_runs_not_mirrored']} closed runs after the position")
    console.print(
        f"lag (runs closed in the last 10 minutes): p50 {out['lag_p50_seconds']} s, p99 {out['lag_p99_seconds']} s"
    )
    console.print("rows: " + ", ".join(f"{name} {count}" for name, count in out["rows"].items()))


@mirror_app.command("rebuild")
def rebuild_command(
    since: str = typer.Option(None, help="Only runs started since: 24h, 7d, or an ISO date/time."),
    as_json: bool = JSON,
) -> None:
    """Recompute executions, steps, timers and history from Temporal; say what differed.
    Attempts stay as the workers recorded them (history cannot rebuild them)."""
    settings = Settings()
    moment = parse_moment(since, option="--since")

    async def run() -> dict[str, Any]:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            with Progress(
                TextColumn("rebuilding"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("runs", total=None)
                result = await rebuild_mirror(
                    client,
                    create_sessionmaker(engine),
                    since=moment,
                    scope=settings.mirror_query,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            return result.as_dict()
        finally:
            await engine.dispose()

    out = asyncio.run(run())
    if as_json:
        print_json(out)
        return
    console.print(
        f"rebuilt {out['runs']} runs in {out['seconds']:.1f} s ({out['runs_per_second'] or 0} runs/s); "
        f"{out['differed']} rows differed from the live mirror"
    )
    table = Table("table", "missing", "extra", "changed")
    for name, diff in out["tables"].items():
        table.add_row(name, str(diff["missing"]), str(diff["extra"]), str(diff["changed"]))
    console.print(table)
