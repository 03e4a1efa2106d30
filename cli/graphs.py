"""Graph workflows from the command line (the work is in client/graphs.py, shared with the API).

intake graph validate FILE                 every problem, each naming its node or edge (exit 2)
intake graph apply FILE                    a new version of the definition (none when unchanged)
intake graph list                          the latest version of each definition
intake graph run NAME --input JSON         start a run, pinned to the latest version [--wait]
intake graph status EXECUTION              the execution and its steps
intake graph approve EXECUTION NODE        decide a waiting approval node [--reject --note ...]
intake graph cancel EXECUTION              cancel a running execution
intake graph retry EXECUTION               a failed execution again, from its failed node
intake graph runs NAME                     the latest executions of a definition
intake graph schedule NAME --every 86400   run it on a Temporal Schedule (unschedule NAME stops it)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from cli.output import clip, console, print_json
from cli.runtime import with_sessions
from client import graphs
from core.settings import Settings
from core.temporal import connect, ui_link
from db.engine import create_sessionmaker, engine_from_settings

T = TypeVar("T")

app = typer.Typer(help="Graph workflows: definitions of nodes and edges, run by GraphWorkflow.", no_args_is_help=True)


def _with_client(settings: Settings, action: Callable[[Client, async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    async def run() -> T:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            return await action(client, create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command()
def validate(file: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Check a definition (YAML or JSON) without storing it."""
    graph = graphs.validate_file(file)
    if as_json:
        print_json({"name": graph.name, "valid": True, "nodes": len(graph.nodes), "edges": len(graph.edges)})
        return
    console.print(f"{file}: {graph.name} is valid ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")


@app.command()
def apply(file: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Store the definition as a new version of its name."""
    graph = graphs.validate_file(file)
    row, created = with_sessions(Settings(), lambda sessions: graphs.apply_definition(sessions, graph))
    if as_json:
        print_json({"name": row.name, "version": row.version, "created": created})
        return
    console.print(f"{row.name} v{row.version}" + (" stored" if created else " unchanged (the latest version)"))


@app.command("list")
def list_definitions(as_json: bool = typer.Option(False, "--json")) -> None:
    """The latest version of every stored definition."""
    rows = with_sessions(Settings(), graphs.list_definitions)
    data = [
        {"name": r.name, "version": r.version, "nodes": len(r.graph.get("nodes", [])), "updated": str(r.created_at)}
        for r in rows
    ]
    if as_json:
        print_json(data)
        return
    table = Table("name", "version", "nodes", "stored")
    for item in data:
        table.add_row(str(item["name"]), str(item["version"]), str(item["nodes"]), str(item["updated"]))
    console.print(table)


@app.command()
def run(
    name: str,
    input: str = typer.Option(None, "--input", help="The run's input: a JSON object."),
    version: int = typer.Option(None, help="A stored version (default: the latest)."),
    wait: bool = typer.Option(False, help="Wait for the run and print its output."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start a run of the definition NAME."""
    settings = Settings()
    data = graphs.parse_input(input)

    async def action(client: Client, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        execution_id, handle = await graphs.start_run(
            client, sessions, name, data, task_queue=settings.task_queue, version=version
        )
        out: dict[str, Any] = {
            "execution_id": execution_id,
            "workflow_id": handle.id,
            "ui": ui_link(settings, handle.id, handle.result_run_id),
        }
        if wait:
            out["result"] = (await handle.result()).model_dump(mode="json")
        return out

    out = _with_client(settings, action)
    if as_json:
        print_json(out)
        return
    console.print(f"started execution {out['execution_id']}")
    if "result" in out:
        console.print(f"[green]completed[/]: {out['result']['output']}")
    if out["ui"]:
        console.print(f"run: {out['ui']}")


@app.command()
def status(execution_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """The execution's status and each step's."""
    data = with_sessions(Settings(), lambda sessions: graphs.run_status(sessions, execution_id))
    if as_json:
        print_json(data)
        return
    line = f"{data['definition']} v{data['version']}: {data['status']}"
    if data["error"]:
        line += f" ({data['error']})"
    console.print(line)
    table = Table("node", "type", "status", "attempts", "error")
    for step in data["steps"]:
        status_text = step["status"] + (" (reused)" if step["reused"] else "")
        table.add_row(step["node_id"], step["node_type"], status_text, str(step["attempts"]), clip(step["error"], 60))
    console.print(table)


@app.command()
def approve(
    execution_id: str,
    node_id: str,
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approving."),
    by: str = typer.Option("cli", help="Who decides."),
    note: str = typer.Option(None),
) -> None:
    """Decide an approval node that is waiting."""
    settings = Settings()
    result = _with_client(
        settings,
        lambda client, sessions: graphs.decide(
            client, sessions, execution_id, node_id, approve=not reject, by=by, note=note
        ),
    )
    console.print(f"{result.node_id}: {result.decision}")


@app.command()
def cancel(execution_id: str) -> None:
    """Cancel a running execution (its running nodes are cancelled)."""
    _with_client(Settings(), lambda client, sessions: graphs.cancel_run(client, sessions, execution_id))
    console.print(f"cancelling {execution_id}")


@app.command()
def retry(
    execution_id: str,
    wait: bool = typer.Option(False, help="Wait for the new execution."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run a FAILED execution again as a new one, reusing its completed steps' outputs."""
    settings = Settings()

    async def action(client: Client, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        new_id, handle = await graphs.retry_run(client, sessions, execution_id, task_queue=settings.task_queue)
        out: dict[str, Any] = {"execution_id": new_id, "retried_from": execution_id, "ui": ui_link(settings, handle.id)}
        if wait:
            out["result"] = (await handle.result()).model_dump(mode="json")
        return out

    out = _with_client(settings, action)
    if as_json:
        print_json(out)
        return
    console.print(f"retrying {execution_id} as execution {out['execution_id']}")
    if "result" in out:
        console.print(f"[green]completed[/]: {out['result']['output']}")
    if out["ui"]:
        console.print(f"run: {out['ui']}")


@app.command()
def runs(name: str, limit: int = typer.Option(20, min=1), as_json: bool = typer.Option(False, "--json")) -> None:
    """The latest executions of the definition NAME, newest first."""
    data = with_sessions(Settings(), lambda sessions: graphs.executions_of(sessions, name, limit))
    if as_json:
        print_json(data)
        return
    table = Table("execution", "version", "status", "started", "error")
    for item in data:
        table.add_row(
            str(item["execution_id"]),
            str(item["version"]),
            str(item["status"]),
            str(item["started_at"]),
            clip(item["error"], 60),
        )
    console.print(table)


@app.command()
def schedule(
    name: str,
    every: float = typer.Option(..., help="Seconds between runs (86400: daily)."),
    input: str = typer.Option(None, "--input", help="Every run's input: a JSON object."),
) -> None:
    """Run NAME on a Temporal Schedule (each run on the latest version then; overlaps skip)."""
    settings = Settings()
    data = graphs.parse_input(input)
    handle = _with_client(
        settings,
        lambda client, sessions: graphs.schedule_runs(
            client, sessions, name, data, every=timedelta(seconds=every), task_queue=settings.task_queue
        ),
    )
    console.print(f"schedule {handle.id}: {name} every {every:g} s")


@app.command()
def unschedule(name: str) -> None:
    """Delete the schedule of NAME."""
    _with_client(Settings(), lambda client, _sessions: graphs.unschedule_runs(client, name))
    console.print(f"{name}: schedule deleted")
