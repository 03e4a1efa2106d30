"""`intake discussion start|retry|status`: the discussion pipeline from the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.output import console, fail, print_json
from cli.runtime import with_sessions
from client.discussions import load_discussion_input, parse_discussion_id, retry_discussion, start_discussion
from contracts.discussions import DiscussionInput
from core.errors import InvalidInputError
from core.settings import Settings
from core.temporal import connect, ui_link
from db.engine import create_sessionmaker, engine_from_settings
from db.repositories.discussions import DiscussionRepository, JobRepository, TaskRepository

app = typer.Typer(help="The discussion pipeline: Slack / Figma threads into Notion tasks.", no_args_is_help=True)


def _input_from(file: Path | None, team: str | None, slack: str | None, figma: str | None) -> DiscussionInput:
    if file is not None:
        given = [name for name, value in (("--team", team), ("--slack", slack), ("--figma", figma)) if value]
        if given:
            fail(f"--file holds the whole discussion: give it alone, without {' '.join(given)}")
        return load_discussion_input(file)
    if team is None or (slack is None) == (figma is None):
        fail("give --team and exactly one of --slack CHANNEL:TS or --figma FILEKEY:COMMENT, or --file")
    source_type, thread = ("slack", slack) if slack else ("figma", figma)
    try:
        return DiscussionInput(team_id=team, source_type=source_type, source_thread_id=thread)
    except ValidationError as err:
        raise InvalidInputError.from_validation(
            f"--team {team!r} --{source_type} {thread!r} is not a discussion", err
        ) from None


@app.command()
def start(
    team: str = typer.Option(None, help="The team the thread belongs to."),
    slack: str = typer.Option(None, help="A Slack thread: CHANNEL:THREAD_TS."),
    figma: str = typer.Option(None, help="A Figma comment thread: FILE_KEY:COMMENT_ID."),
    file: Path = typer.Option(None, help="A JSON payload (the DiscussionInput model)."),
    wait: bool = typer.Option(True, help="Wait for the pipeline and print its result."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Start the pipeline for one thread (a running one for the same thread is reused)."""
    settings = Settings()
    payload = _input_from(file, team, slack, figma)

    async def run() -> dict[str, Any]:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            handle = await start_discussion(
                client, payload, task_queue=settings.task_queue, sessions=create_sessionmaker(engine)
            )
        finally:
            await engine.dispose()
        out: dict[str, Any] = {"workflow_id": handle.id, "ui": ui_link(settings, handle.id, handle.result_run_id)}
        if not as_json:  # said now, so a run that fails while we wait has its link printed above the error
            console.print(f"started {out['workflow_id']}")
            if out["ui"]:
                console.print(f"run: {out['ui']}")
        if wait:
            out["result"] = (await handle.result()).model_dump(mode="json")
        return out

    out = asyncio.run(run())
    if as_json:
        print_json(out)
        return
    if "result" in out:
        result = out["result"]
        console.print(
            f"[green]completed[/] discussion {result['discussion_id']}: "
            f"{len(result['task_ids'])} tasks in {result['processing_ms']} ms"
        )
        for url in result["notion_page_urls"]:
            console.print(f"  {url}")


@app.command()
def retry(
    discussion_id: str,
    team: str = typer.Option(..., help="The discussion's team."),
    by: str = typer.Option("cli", help="Who asks for the retry (recorded in the job's metadata)."),
    wait: bool = typer.Option(True),
) -> None:
    """Retry a FAILED discussion as a new job, reusing its stored thread."""
    settings = Settings()

    async def run() -> None:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            handle = await retry_discussion(
                client,
                create_sessionmaker(engine),
                team_id=team,
                discussion_id=discussion_id,
                retried_by=by,
                task_queue=settings.task_queue,
            )
        finally:
            await engine.dispose()
        console.print(f"retrying as {handle.id}")
        if link := ui_link(settings, handle.id, handle.result_run_id):
            console.print(f"run: {link}")
        if wait:
            result = await handle.result()
            console.print(f"[green]completed[/] with {len(result.task_ids)} tasks (job {result.job_id})")

    asyncio.run(run())


@app.command()
def status(
    discussion_id: str,
    team: str = typer.Option(..., help="The discussion's team."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A discussion with its jobs and tasks."""
    settings = Settings()
    data = with_sessions(settings, lambda sessions: _status(sessions, team, discussion_id))
    if data is None:
        fail(f"team {team!r} has no discussion {discussion_id}")
    if as_json:
        print_json(data)
        return
    d = data["discussion"]
    console.print(f"[bold]{d['title']}[/] ({d['source_type']} {d['source_thread_id']}): {d['status']}")
    if d["error"]:
        console.print(f"[red]error:[/] {d['error']}")
    if d["ai_summary"]:
        console.print(f"summary: {d['ai_summary']}")
    jobs = Table("job", "status", "stage", "created", "completed", "retry")
    for job in data["jobs"]:
        jobs.add_row(
            job["id"],
            job["status"],
            job["stage"],
            job["created_at"],
            job["completed_at"] or "",
            "yes" if job["metadata"].get("isRetry") else "",
        )
    console.print(jobs)
    tasks = Table("#", "task", "priority", "assignee", "notion")
    for task in data["tasks"]:
        tasks.add_row(
            str(task["task_index"]),
            task["title"],
            task["priority"] or "",
            task["assignee"] or "",
            task["notion_page_url"] or "",
        )
    console.print(tasks)


async def _status(sessions: async_sessionmaker[AsyncSession], team: str, discussion_id: str) -> dict | None:
    async with sessions() as session:
        discussion = await DiscussionRepository().for_team(team, parse_discussion_id(discussion_id), session=session)
        if discussion is None:
            return None
        jobs = await JobRepository().find_many(session=session, discussion_id=discussion.id)
        tasks = await TaskRepository().for_discussion(discussion.id, session=session)
    return {
        "discussion": _row(
            discussion,
            "id",
            "team_id",
            "source_type",
            "source_thread_id",
            "title",
            "status",
            "error",
            "ai_summary",
            "notion_task_ids",
            "completed_at",
        ),
        "jobs": [
            _row(j, "id", "status", "stage", "error", "created_at", "completed_at") | {"metadata": j.job_metadata}
            for j in jobs
        ],
        "tasks": [
            _row(t, "id", "task_index", "title", "priority", "assignee", "notion_page_id", "notion_page_url")
            for t in tasks
        ],
    }


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return json.loads(json.dumps({n: getattr(obj, n) for n in names}, default=str))
