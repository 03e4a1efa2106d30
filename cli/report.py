"""`intake report ...`: what the pipelines did, from the Postgres tables."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.output import clip, console, print_json
from cli.runtime import with_sessions
from cli.signals import timeline
from core.settings import Settings
from db.repositories.discussions import JobRepository

app = typer.Typer(help="Reports: jobs, timelines, previews.", no_args_is_help=True)
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
