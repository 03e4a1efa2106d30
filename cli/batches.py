"""`intake batch import|status|errors`: CSV files of work orders, imported as batches."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.output import clip, console, print_json
from cli.runtime import with_sessions
from client.batches import (
    batch_errors,
    batch_errors_csv,
    batch_id_of,
    batch_kind,
    chunk_size_of,
    load_batch_status,
    read_batch_file,
    start_batch_import,
    store_batch,
)
from client.work_orders import workspace_spec
from contracts.batches import DEFAULT_CHUNK_SIZE, DEFAULT_IN_FLIGHT, MAX_CHILDREN_PER_RUN
from core.settings import Settings
from core.temporal import connect, ui_link
from db.engine import create_sessionmaker, engine_from_settings

app = typer.Typer(help="CSV files of work orders, imported as batches of chunks.", no_args_is_help=True)


@app.command("import")
def import_batch(
    path: Path = typer.Argument(..., help="The CSV file (header: work_order_number, fm_key, ...)."),
    kind: str = typer.Option("work-orders", "--kind", help="What the rows are: work-orders."),
    workspace: str = typer.Option("default", "--workspace", "-w", help="Workspace slug; created on first use."),
    spreadsheet: str = typer.Option(
        None, envvar="INTAKE_SPREADSHEET_ID", help="Spreadsheet a NEW workspace exports to (none: no export)."
    ),
    chunk_size: int = typer.Option(
        DEFAULT_CHUNK_SIZE, help="Most rows per chunk (a new batch only; a small file is split across --in-flight)."
    ),
    in_flight: int = typer.Option(DEFAULT_IN_FLIGHT, min=1, max=64, help="Chunks processed at once."),
    children_per_run: int = typer.Option(
        MAX_CHILDREN_PER_RUN,
        min=1,
        max=MAX_CHILDREN_PER_RUN,
        help="Chunks per workflow run before it continues as new.",
    ),
    wait: bool = typer.Option(True, help="Wait for the batch to finish (with a progress bar)."),
    as_json: bool = typer.Option(False, "--json"),
    team: str = typer.Option(
        None,
        "--team",
        help="The team whose API tokens (and dashboard) see the workspace's batches (a new workspace, or one of none).",
    ),
) -> None:
    """Import a CSV file of work orders: chunks fanned out to child runs, bad rows kept as error rows."""
    rows_kind = batch_kind(kind)
    chunk_size_of(chunk_size)
    spec = workspace_spec(workspace, spreadsheet_id=spreadsheet, team_id=team)
    file = read_batch_file(path)  # refused (exit 2) before anything is written
    settings = Settings()

    async def run() -> dict[str, Any]:
        engine = engine_from_settings(settings)
        sessions = create_sessionmaker(engine)
        try:
            stored = await store_batch(sessions, file, workspace=spec, kind=rows_kind, chunk_size=chunk_size)
            if stored.status == "COMPLETED":
                # Imported before, to the end: the same batch, nothing to run again.
                status = await load_batch_status(sessions, batch_id_of(stored.batch_id))
                return {"batch_id": stored.batch_id, "is_new": False, **status}
            client = await connect(settings)
            handle = await start_batch_import(
                client,
                stored,
                workspace=spec.slug,
                task_queue=settings.task_queue,
                max_in_flight=in_flight,
                max_children_per_run=children_per_run,
            )
            out: dict[str, Any] = {"batch_id": stored.batch_id, "is_new": stored.is_new, "workflow_id": handle.id}
            if link := ui_link(settings, handle.id, handle.result_run_id):
                out["ui"] = link
            if not wait:
                return out
            result = asyncio.ensure_future(handle.result())
            batch_id = batch_id_of(stored.batch_id)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=as_json or not sys.stdout.isatty(),
            ) as progress:
                bar = progress.add_task(f"importing {file.name}", total=None)
                while not result.done():
                    status = await load_batch_status(sessions, batch_id, errors=0)
                    progress.update(bar, total=status["rows"] or None, completed=status["processed"] + status["errors"])
                    await asyncio.wait([result], timeout=0.5)
                await result
            status = await load_batch_status(sessions, batch_id)
            return {**out, **status}
        finally:
            await engine.dispose()

    out = asyncio.run(run())
    if as_json:
        print_json(out)
    else:
        console.print(f"batch {out['batch_id']} ({'new' if out['is_new'] else 'imported before'})")
        if "status" in out:
            _print_status(out)
        elif out.get("ui"):
            console.print(f"run: {out['ui']}")
    if out.get("status") == "FAILED":
        raise typer.Exit(1)


@app.command("status")
def status(
    batch_id: str = typer.Argument(..., help="The batch id `intake batch import` printed."),
    errors: int = typer.Option(5, min=0, help="How many of the first error rows to show."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A batch's status and counts, its chunks by status, its first error rows."""
    batch = batch_id_of(batch_id)
    data = with_sessions(Settings(), lambda sessions: load_batch_status(sessions, batch, errors=errors))
    if as_json:
        print_json(data)
    else:
        _print_status(data)


@app.command("errors")
def errors(
    batch_id: str = typer.Argument(..., help="The batch id `intake batch import` printed."),
    as_csv: bool = typer.Option(False, "--csv", help="As a CSV file to fix and import again."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A batch's error rows, in file order: row, column, reason, and the row as the file had it."""
    batch = batch_id_of(batch_id)

    async def run(sessions: Any) -> list[dict[str, Any]] | None:
        if as_csv:
            async for text in batch_errors_csv(sessions, batch):
                sys.stdout.write(text)
            sys.stdout.flush()
            return None
        return [row async for row in batch_errors(sessions, batch)]

    rows = with_sessions(Settings(), run)
    if rows is None:
        return
    if as_json:
        print_json(rows)
        return
    table = Table("row", "column", "reason", "row as imported")
    for row in rows:
        table.add_row(str(row["row"]), row["column"] or "", row["reason"], clip(row["raw"], 60))
    console.print(table)


def _print_status(data: dict[str, Any]) -> None:
    color = {"COMPLETED": "green", "FAILED": "red"}.get(data["status"], "yellow")
    console.print(
        f"[{color}]{data['status']}[/] {data['source']}: {data['rows']} rows, {data['processed']} processed "
        f"({data['created']} new work orders, {data['existing']} existing), {data['errors']} errors"
    )
    chunks = data["chunks"]
    console.print("chunks: " + "  ".join(f"{status} {count}" for status, count in chunks.items()))
    if data.get("error"):
        console.print(f"[red]{data['error']}[/]")
    for chunk in data["failed_chunks"]:
        console.print(f"[red]chunk {chunk['chunk']} (rows {chunk['rows']}) failed:[/] {chunk['error']}")
    if data["first_errors"]:
        table = Table("row", "column", "reason")
        for row in data["first_errors"]:
            table.add_row(str(row["row"]), row["column"] or "", row["reason"])
        console.print(table)
        console.print(f"`intake batch errors {data['batch_id']} --csv` writes every error row, to fix and re-import")
