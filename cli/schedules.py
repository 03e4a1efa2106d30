"""`intake schedules apply|list`: the Temporal Schedules that trigger ingestion and maintenance."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table
from temporalio.client import ScheduleListActionStartWorkflow

from cli.output import console, print_json
from cli.runtime import with_sessions
from client.schedules import ScheduleOptions, apply_schedules, describe
from client.signals import active_users
from core.settings import Settings
from core.temporal import connect

app = typer.Typer(
    help="Temporal Schedules: apply the project's list, or list what the server has.", no_args_is_help=True
)


@app.command()
def apply(
    job_retention_days: int = typer.Option(30, min=1, help="Keep finished discussion jobs this long."),
    run_log_retention_days: int = typer.Option(30, min=1, help="Keep the signal run log this long."),
    mirror_retention_days: int = typer.Option(
        None, min=1, help="Keep the engine mirror's runs this long (default MIRROR_RETENTION_DAYS, 30)."
    ),
) -> None:
    """Create or update every schedule of the project, one ingestion per active user (safe to run again)."""
    settings = Settings()
    users = with_sessions(settings, active_users)

    async def run() -> dict[str, str]:
        client = await connect(settings)
        return await apply_schedules(
            client,
            ScheduleOptions(
                task_queue=settings.task_queue,
                job_retention_days=job_retention_days,
                run_log_retention_days=run_log_retention_days,
                mirror_retention_days=mirror_retention_days or settings.mirror_retention_days,
                signal_users=tuple(users),
            ),
        )

    for schedule_id, outcome in asyncio.run(run()).items():
        console.print(f"{outcome:8} {schedule_id}")


@app.command("list")
def list_schedules(as_json: bool = typer.Option(False, "--json")) -> None:
    """The schedules on the server, with their next run."""
    settings = Settings()

    async def run() -> list[dict[str, object]]:
        client = await connect(settings)
        rows: list[dict[str, object]] = []
        async for entry in await client.list_schedules():
            # The server leaves out a listing's schedule and info when it has none to give.
            schedule, info = entry.schedule, entry.info
            action = schedule.action if schedule is not None else None
            rows.append(
                {
                    "id": entry.id,
                    "workflow": action.workflow if isinstance(action, ScheduleListActionStartWorkflow) else None,
                    "next_run": info.next_action_times[0] if info is not None and info.next_action_times else None,
                    "paused": schedule.state.paused if schedule is not None else None,
                    "about": describe(entry.id),
                }
            )
        return rows

    rows = asyncio.run(run())
    if as_json:
        print_json(rows)
        return
    table = Table("id", "workflow", "next run", "paused", "about")
    for row in rows:
        table.add_row(
            *(str(row[k]) if row[k] is not None else "" for k in ("id", "workflow", "next_run", "paused", "about"))
        )
    console.print(table)
