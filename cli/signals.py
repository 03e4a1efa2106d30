"""Signal ingestion and approvals from the command line.

intake ingest user-add USER --mailbox alice@example.com
intake ingest run USER [--force]           stale-gated like an app open
intake ingest status USER
intake inbox queue|drafts|processed|audit  the dashboard's reads
intake approve ACTION_ID [--payload JSON] | intake reject ACTION_ID [--note ...]
intake feedback ACTION_ID --positive|--negative [--note ...]
intake queue-tool-call USER --type draft_reply --payload JSON --summary ...
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from cli.output import console, fail, print_json
from cli.runtime import with_sessions
from client import signals
from contracts.approvals import QueueToolCallInput
from core.errors import InvalidInputError
from core.settings import Settings
from core.temporal import connect, ui_link
from db.engine import create_sessionmaker, engine_from_settings
from db.models.signals import IngestionState
from db.repositories import dashboard
from db.repositories.run_log import AuditLogRepository, RunLogRepository
from db.repository import Repository

T = TypeVar("T")

ingest_app = typer.Typer(help="Signal ingestion: Gmail and Calendar into work items.", no_args_is_help=True)
# Deciding proposed actions: commands at the top level (`intake approve ID`), added without a group name.
decisions_app = typer.Typer()
inbox_app = typer.Typer(help="The approval dashboard: queue, drafts, processed, audit log.", no_args_is_help=True)


def _jsonable(rows: Any) -> Any:
    return json.loads(json.dumps(rows, default=str))


def _with_client(settings: Settings, action: Callable[[Client, async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run `action` with a Temporal client and the database (a failed run is reported by `cli.main`)."""

    async def run() -> T:
        client = await connect(settings)
        engine = engine_from_settings(settings)
        try:
            return await action(client, create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _payload(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        fail(f"--payload is not JSON: {err}")
    if not isinstance(value, dict):
        fail("--payload must be a JSON object")
    return value


# -- intake ingest ----------------------------------------------------------------------------


@ingest_app.command("user-add")
def user_add(
    user_id: str,
    mailbox: str = typer.Option(..., help="The Gmail address to read."),
    calendar: str = typer.Option(None, help="The calendar id (default: the mailbox)."),
    watch: list[str] = typer.Option(
        [], help="A watched keyword (repeat the option for more; none given: an existing user keeps theirs)."
    ),
    inactive: bool = typer.Option(False, help="Register without scheduled ingestion."),
    team: str = typer.Option(None, help="The team whose API tokens see the user's work items (kept when left out)."),
) -> None:
    """Register a user (or update one); `intake schedules apply` then schedules the active ones."""
    user = with_sessions(
        Settings(),
        lambda sessions: signals.register_user(
            sessions,
            user_id=user_id,
            mailbox=mailbox,
            calendar_id=calendar,
            watch_keywords=list(watch) or None,
            active=not inactive,
            team_id=team,
        ),
    )
    console.print(
        f"{user.user_id}: mailbox {user.mailbox}, calendar {user.calendar_id}, "
        f"{'active' if user.active else 'inactive'}"
    )


@ingest_app.command("run")
def run_ingestion(
    user_id: str,
    force: bool = typer.Option(False, "--force", help="Run even when the last success is fresh."),
    stale_after: int = typer.Option(
        signals.DEFAULT_STALE_AFTER_SECONDS, min=0, help="Seconds after which the last success is stale."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ingest USER's Gmail and Calendar now, unless the last success is fresher than --stale-after."""
    settings = Settings()

    async def run(client: Client, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        handle = await signals.start_ingestion(
            client,
            user_id,
            task_queue=settings.task_queue,
            force=force,
            stale_after_seconds=stale_after,
            sessions=sessions,
        )
        result = await handle.result()
        return {
            "workflow_id": handle.id,
            "ui": ui_link(settings, handle.id, handle.result_run_id),
            **result.model_dump(mode="json"),
        }

    out = _with_client(settings, run)
    if as_json:
        print_json(out)
        return
    if out["status"] == "skipped":
        console.print(f"skipped: {out['reason']} (--force runs anyway)")
        return
    for source in out["sources"]:
        console.print(
            f"{source['source']:9} fetched {source['fetched']}, stored {source['stored']}, "
            f"unchanged {source['unchanged']}, not actionable {source['not_actionable']}"
            + (" (full resync)" if source["full_resync"] else "")
        )
    if out["ui"]:
        console.print(f"run: {out['ui']}")


@ingest_app.command("status")
def status(user_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """USER's cursors, last success and last error."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any] | None:
        await signals.require_user(sessions, user_id)
        async with sessions() as session:
            state = await Repository(IngestionState).find_by_id(user_id, session=session)
        if state is None:
            return None
        return _jsonable(
            {
                name: getattr(state, name)
                for name in (
                    "user_id",
                    "gmail_cursor",
                    "calendar_cursor",
                    "last_synced_at",
                    "bootstrap_completed_at",
                    "last_error",
                    "last_error_at",
                )
            }
        )

    data = with_sessions(Settings(), load)
    if data is None:
        fail(f"{user_id} was never ingested")
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"{key:24} {value if value is not None else ''}")


# -- intake inbox -----------------------------------------------------------------------------


def _dashboard(
    read: Callable[..., Awaitable[list[dict[str, Any]]]], user: str | None, limit: int
) -> list[dict[str, Any]]:
    async def load(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
        async with sessions() as session:
            return _jsonable(await read(session=session, user_id=user, limit=limit))

    return with_sessions(Settings(), load)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row.get(c) if row.get(c) is not None else "") for c in columns))
    console.print(table)


@inbox_app.command("queue")
def approval_queue(
    user: str = typer.Option(None), limit: int = typer.Option(50, min=1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Work items awaiting approval, most important first."""
    rows = _dashboard(dashboard.approval_queue, user, limit)
    if as_json:
        print_json(rows)
        return
    _table(rows, ["action_id", "user_id", "importance_tier", "importance_score", "action_type", "summary"])


@inbox_app.command("drafts")
def drafts(
    user: str = typer.Option(None), limit: int = typer.Option(50, min=1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Gmail drafts and Calendar events that approvals made."""
    rows = _dashboard(dashboard.drafts, user, limit)
    if as_json:
        print_json(rows)
        return
    _table(rows, ["action_id", "user_id", "action_type", "provider_id", "summary"])


@inbox_app.command("processed")
def processed(
    user: str = typer.Option(None), limit: int = typer.Option(50, min=1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Work items the user decided."""
    rows = _dashboard(dashboard.processed, user, limit)
    if as_json:
        print_json(rows)
        return
    _table(rows, ["id", "user_id", "status", "action_status", "summary"])


@inbox_app.command("audit")
def audit(
    target: str = typer.Option(None, help="A work item id: its entries, oldest first."),
    user: str = typer.Option(None),
    limit: int = typer.Option(50, min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The audit log (of one work item with --target), and the counts per target type and action."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        repo = AuditLogRepository()
        if target:
            await signals.require_work_item(sessions, target)
        async with sessions() as session:
            entries = (
                await repo.by_target("work_item", target, session=session, limit=limit)
                if target
                else await repo.listing(session=session, user_id=user, limit=limit)
            )
            counts = await repo.counts(session=session, user_id=user)
        return _jsonable(
            {
                "entries": [
                    {
                        "at": e.created_at,
                        "user_id": e.user_id,
                        "action": e.action,
                        "target_id": e.target_id,
                        "payload": e.payload,
                    }
                    for e in entries
                ],
                "counts": [{"target_type": t, "action": a, "count": n} for (t, a), n in sorted(counts.items())],
            }
        )

    data = with_sessions(Settings(), load)
    if as_json:
        print_json(data)
        return
    _table(data["entries"], ["at", "user_id", "action", "target_id"])
    _table(data["counts"], ["target_type", "action", "count"])


# -- decisions --------------------------------------------------------------------------------


@decisions_app.command("approve")
def approve(
    action_id: str,
    payload: str = typer.Option(None, help="JSON fields replacing the proposed payload's (e.g. the body)."),
    by: str = typer.Option("cli", help="Who approves (in the run log and audit log)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Approve a proposed action: the Gmail draft or Calendar event is made, once."""
    settings = Settings()
    override = _payload(payload)
    outcome = _with_client(
        settings,
        lambda client, sessions: signals.approve_action(
            client, sessions, action_id, task_queue=settings.task_queue, payload_override=override, approved_by=by
        ),
    )
    if as_json:
        print_json(outcome.model_dump(mode="json"))
        return
    console.print(
        f"[green]executed[/] {outcome.action_type} -> {outcome.provider_id}"
        + (f" {outcome.html_link}" if outcome.html_link else "")
    )


@decisions_app.command("reject")
def reject(
    action_id: str,
    note: str = typer.Option(None, help="Why (kept as negative feedback)."),
    by: str = typer.Option("cli"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reject a proposed action: it and its work item are dismissed, the note kept as feedback."""
    settings = Settings()
    outcome = _with_client(
        settings,
        lambda client, sessions: signals.reject_action(
            client, sessions, action_id, task_queue=settings.task_queue, note=note, rejected_by=by
        ),
    )
    if as_json:
        print_json(outcome.model_dump(mode="json"))
        return
    console.print(f"dismissed {outcome.action_type} of work item {outcome.work_item_id}")


@decisions_app.command("feedback")
def feedback(
    action_id: str,
    positive: bool = typer.Option(..., "--positive/--negative"),
    note: str = typer.Option(None),
    by: str = typer.Option("cli"),
) -> None:
    """Say whether a proposed action (and its work item) was useful."""
    settings = Settings()
    result = _with_client(
        settings,
        lambda client, sessions: signals.give_feedback(
            client, sessions, action_id, task_queue=settings.task_queue, positive=positive, note=note, given_by=by
        ),
    )
    console.print(f"{result.rating} feedback on work item {result.work_item_id}")


@decisions_app.command("queue-tool-call")
def queue_tool_call(
    user_id: str,
    action_type: str = typer.Option(..., "--type", help="draft_reply, schedule_event or refund_request."),
    payload: str = typer.Option(..., help="The action's payload as JSON."),
    summary: str = typer.Option(..., help="What the work item is about."),
    context: str = typer.Option("", help="Longer context."),
    call_id: str = typer.Option(None, help="The tool call's id (queued once per id; default: a new one)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Queue a tool call for approval: a work item and its proposed action, in one transaction."""
    settings = Settings()
    try:
        request = QueueToolCallInput(
            user_id=user_id,
            call_id=call_id or str(uuid.uuid4()),
            action_type=action_type,
            payload=_payload(payload) or {},
            summary=summary,
            context=context,
        )
    except ValidationError as err:
        raise InvalidInputError.from_validation("not a tool call to queue", err) from None
    result = _with_client(
        settings,
        lambda client, sessions: signals.queue_tool_call(
            client, request, task_queue=settings.task_queue, sessions=sessions
        ),
    )
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    console.print(
        f"{'queued' if result.created else 'already queued'}: action {result.action_id} "
        f"(work item {result.work_item_id})"
    )


def timeline(work_item_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A work item's run timeline: every run (ingest, approve, ...) with its events, oldest first."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
        item_id = await signals.require_work_item(sessions, work_item_id)
        async with sessions() as session:
            return _jsonable(await RunLogRepository().timeline(item_id, session=session))

    runs = with_sessions(Settings(), load)
    if as_json:
        print_json(runs)
        return
    if not runs:
        fail(f"no runs for work item {work_item_id}")
    for run in runs:
        console.print(f"[bold]{run['at']}[/] {run['phase']} ({run['status']}) {run['workflow_id'] or ''}")
        for event in run["events"]:
            console.print(f"    {event['kind']:18} {json.dumps(event['payload'])}")
