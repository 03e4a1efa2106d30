"""`intake workorder ingest`, `intake signed ingest`, `intake export drain|status|retry`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from temporalio.client import WorkflowFailureError

from cli.output import clip, console, fail, print_json
from cli.runtime import with_sessions
from client.runs import failure_error
from client.work_orders import (
    DocumentKind,
    check_local_files,
    check_workspace_for,
    load_export_status,
    retry_failed_exports,
    start_export_drain,
    start_file_ingest,
    start_gmail_ingest,
    workspace_spec,
)
from contracts.exports import ExportDrainInput
from core.errors import IntakeError
from core.settings import Settings
from core.temporal import connect
from db.engine import create_sessionmaker, engine_from_settings

workorder_app = typer.Typer(help="Work-order PDFs into the database (and a Sheets export).", no_args_is_help=True)
signed_app = typer.Typer(help="Signed work-order PDFs, matched 1:1 to their work orders.", no_args_is_help=True)
export_app = typer.Typer(help="The Sheets export queue.", no_args_is_help=True)

WORKSPACE = typer.Option("default", "--workspace", "-w", help="Workspace slug; created on first use.")
SIGNED_WORKSPACE = typer.Option(
    "default", "--workspace", "-w", help="Slug of the workspace holding the work orders (it must exist)."
)
SPREADSHEET = typer.Option(
    None, envvar="INTAKE_SPREADSHEET_ID", help="Spreadsheet a NEW workspace exports to (none: no export)."
)
GMAIL = typer.Option(None, "--gmail", help="Read PDFs from this Gmail mailbox instead of files.")
QUERY = typer.Option(None, help="With --gmail: a Gmail search, e.g. 'has:attachment subject:\"work order\"'.")
MESSAGE = typer.Option(None, help="With --gmail: one message id.")
PARALLEL = typer.Option(8, min=1, max=64, help="Files in flight at once.")
TEAM = typer.Option(
    None, "--team", help="The team whose API tokens see the workspace's work orders (a new workspace, or one of none)."
)


@workorder_app.command("ingest")
def ingest_work_orders(
    paths: list[Path] = typer.Argument(None, help="PDF files."),
    workspace: str = WORKSPACE,
    spreadsheet: str = SPREADSHEET,
    gmail: str = GMAIL,
    query: str = QUERY,
    message: str = MESSAGE,
    parallel: int = PARALLEL,
    team: str = TEAM,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ingest work-order PDFs: each file (or Gmail attachment) once per workspace, by its sha256."""
    _ingest("workorder", paths, workspace, spreadsheet, gmail, query, message, parallel, as_json, team=team)


@signed_app.command("ingest")
def ingest_signed(
    paths: list[Path] = typer.Argument(None, help="Signed PDF files."),
    workspace: str = SIGNED_WORKSPACE,
    spreadsheet: str = SPREADSHEET,
    gmail: str = GMAIL,
    query: str = QUERY,
    message: str = MESSAGE,
    parallel: int = PARALLEL,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ingest signed PDFs; a second signed document for a matched work order is refused (and recorded)."""
    _ingest("signed", paths, workspace, spreadsheet, gmail, query, message, parallel, as_json)


def _ingest(
    kind: DocumentKind,
    paths: list[Path] | None,
    workspace: str,
    spreadsheet: str | None,
    gmail: str | None,
    query: str | None,
    message: str | None,
    parallel: int,
    as_json: bool,
    *,
    team: str | None = None,
) -> None:
    if bool(paths) == bool(gmail):
        fail("give PDF paths, or --gmail MAILBOX with --query or --message")
    if gmail and (query is None) == (message is None):
        fail("with --gmail give exactly one of --query or --message")
    check_local_files(paths or [])  # every path, before any run starts
    spec = workspace_spec(workspace, spreadsheet_id=spreadsheet, team_id=team)
    settings = Settings()
    with_sessions(settings, lambda sessions: check_workspace_for(sessions, kind, spec))

    async def run() -> list[dict[str, Any]]:
        client = await connect(settings)
        if gmail:
            handle = await start_gmail_ingest(
                client,
                workspace=spec,
                kind=kind,
                user=gmail,
                query=query,
                message_id=message,
                task_queue=settings.task_queue,
            )
            return [doc.model_dump(mode="json") for doc in (await handle.result()).documents]
        gate = asyncio.Semaphore(parallel)
        documents: list[dict[str, Any]] = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json or len(paths or []) < 2,
        ) as progress:
            bar = progress.add_task(f"ingesting {kind} PDFs", total=len(paths or []))

            async def one(path: Path) -> None:
                async with gate:
                    try:
                        handle = await start_file_ingest(
                            client, path, workspace=spec, kind=kind, task_queue=settings.task_queue
                        )
                        documents.extend(doc.model_dump(mode="json") for doc in (await handle.result()).documents)
                    except (IntakeError, WorkflowFailureError, OSError) as err:
                        # Unreadable, too big, not a file: this file's row says so; the others go on.
                        documents.append(_failed_row(path, err))
                    progress.advance(bar)

            await asyncio.gather(*(one(path) for path in paths or []))
        return documents

    documents = asyncio.run(run())
    if as_json:
        print_json(documents)
    else:
        table = Table("file", "work order", "outcome", "new", "detail")
        for doc in documents:
            outcome = doc["outcome"]
            color = "red" if outcome in ("failed", "refused") else "green"
            table.add_row(
                doc["filename"],
                doc["work_order_number"] or "",
                f"[{color}]{outcome}[/]",
                "yes" if doc["is_new"] else "",
                _detail(doc),
            )
        console.print(table)
    if any(doc["outcome"] in ("failed", "refused") for doc in documents):
        raise typer.Exit(1)


def _detail(doc: dict[str, Any]) -> str:
    """Why a file failed or was refused, else what its extraction did not store (in yellow)."""
    if reason := doc.get("error") or doc.get("reason"):
        return str(reason)
    return "\n".join(f"[yellow]{escape(line)}[/]" for line in doc.get("warnings") or [])


def _failed_row(path: Path, err: Exception) -> dict[str, Any]:
    """A result row for a file whose ingestion did not get as far as an outcome."""
    error = str(failure_error(err) if isinstance(err, WorkflowFailureError) else err)
    return {
        "filename": path.name,
        "file_hash": None,
        "outcome": "failed",
        "is_new": False,
        "work_order_number": None,
        "error": error,
        "export_enqueued": False,
    }


@export_app.command("drain")
def drain(
    wait: bool = typer.Option(True, help="Wait until the queue is empty (through any quota cool-down)."),
    cooldown: float = typer.Option(60.0, min=0.1, help="Seconds to hold the queue after a quota error."),
    concurrency: int = typer.Option(4, min=1, max=64),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start the export drain (or wake the running one) and report what it exported."""
    settings = Settings()

    async def run() -> dict[str, Any]:
        client = await connect(settings)
        handle = await start_export_drain(
            client,
            task_queue=settings.task_queue,
            input=ExportDrainInput(cooldown_seconds=cooldown, concurrency=concurrency),
        )
        out: dict[str, Any] = {"workflow_id": handle.id}
        if wait:
            out["totals"] = (await handle.result()).totals.model_dump()
        return out

    out = asyncio.run(run())
    if as_json:
        print_json(out)
        return
    console.print(f"drain {out['workflow_id']}")
    if totals := out.get("totals"):
        console.print(f"exported {totals['exported']}, failed {totals['failed']}, quota stops {totals['quota_stops']}")


@export_app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Export jobs per status, a quota pause if one holds them, and the FAILED ones with their errors."""
    data = with_sessions(Settings(), load_export_status)
    if as_json:
        print_json(data)
        return
    console.print("  ".join(f"{status} {count}" for status, count in data["counts"].items()))
    if data["held_until"]:
        console.print(f"[yellow]held by a quota stop until {data['held_until']}[/]")
    if data["failed"]:
        table = Table("failed job", "kind", "attempts", "last error")
        for job in data["failed"]:
            table.add_row(job["job_id"], job["kind"], str(job["attempts"]), clip(job["last_error"], 100))
        console.print(table)
        console.print("`intake export retry` puts them back in the queue")


@export_app.command("retry")
def retry(
    job_ids: list[str] = typer.Argument(None, help="FAILED job ids (default: every FAILED job)."),
    wait: bool = typer.Option(True),
) -> None:
    """Give FAILED export jobs a fresh round of attempts."""
    settings = Settings()

    async def run() -> None:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            handle = await retry_failed_exports(
                client, task_queue=settings.task_queue, job_ids=job_ids or None, sessions=create_sessionmaker(engine)
            )
        finally:
            await engine.dispose()
        console.print(f"retrying through {handle.id}")
        if wait:
            totals = (await handle.result()).totals
            console.print(f"exported {totals.exported}, failed {totals.failed}")

    asyncio.run(run())
