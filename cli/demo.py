"""`intake demo`: every pipeline end to end on the embedded stack, printed as it goes.

Each pipeline is one section: an async function taking the `Demo` context,
called in order from `_pipelines`, that narrates on `demo.out` and puts what
it did in `demo.summary` (printed as JSON with `--json`, the narration then
going to stderr). Sections must be re-runnable on a stack that keeps its data:
each run uses a team, a workspace and users of its own (`acme-<run id>`,
`ops-<run id>`, `alice-<run id>`), because a thread is processed once per team.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from cli.output import clip, console, err_console, print_json, rule
from client.api_tokens import create_token
from core.settings import Settings
from core.state import read_state
from core.temporal import connect, ui_link, ui_list_link
from db.engine import create_sessionmaker, engine_from_settings
from sandbox.control import SandboxControl


@dataclass
class Demo:
    settings: Settings
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    sandbox: SandboxControl
    run_id: str  # distinguishes this demo run's teams and users from earlier runs'
    out: Console = console
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def team(self) -> str:
        """This run's team: its discussions' team, and its users' and workspace's, so one API token of
        the team (`intake api token create --team`) sees every row the run made."""
        return f"acme-{self.run_id}"

    def link(self, workflow_id: str, run_id: str | None = None) -> str:
        return ui_link(self.settings, workflow_id, run_id) or workflow_id


def run_demo(settings: Settings, *, as_json: bool = False) -> None:
    from stack.embedded import EmbeddedStack, StackConfig

    out = err_console if as_json else console
    stack = None
    if settings.database_url is None and read_state(settings.state_dir.resolve()) is None:
        rule("starting the embedded stack", out)
        stack = EmbeddedStack(
            StackConfig(
                state_dir=settings.state_dir,
                task_queue=settings.task_queue,
                namespace=settings.temporal_namespace,
            ),
            say=out.print,
        )
        stack.start()
        settings = Settings()  # now reads the stack's state file
    else:
        out.print("using the running stack")
    try:
        summary = asyncio.run(_pipelines(settings, out))
    finally:
        if stack is not None:
            rule("stopping the embedded stack", out)
            stack.stop()
    out.print("[bold green]demo finished[/]")
    if stack is not None:
        out.print(
            "The links above open only while a stack runs, and this one has stopped. To click them, keep one "
            "running: `make up` (or `.venv/bin/intake up`) in one terminal, then `make demo` (or "
            "`.venv/bin/intake demo`) in another, which runs on that stack and leaves it running."
        )
    else:
        out.print(
            "The stack keeps running, so the links above open; `make down` (or `.venv/bin/intake down`) stops it."
        )
    if as_json:
        print_json(summary | {"stack_kept_running": stack is None})


async def _pipelines(settings: Settings, out: Console) -> dict[str, Any]:
    sandbox_url = settings.resolved_sandbox_url()
    if sandbox_url is None:
        raise SystemExit("the demo needs the sandbox: run it on the embedded stack (`intake up`)")
    engine = engine_from_settings(settings)
    try:
        async with SandboxControl(sandbox_url) as sandbox:
            demo = Demo(
                settings=settings,
                client=await connect(settings),
                sessions=create_sessionmaker(engine),
                sandbox=sandbox,
                run_id=uuid.uuid4().hex[:6],
                out=out,
            )
            demo.summary.update(run_id=demo.run_id, temporal_ui=settings.resolved_temporal_ui_url())
            for section in (_health, _discussions, _work_orders, _signals):
                await section(demo)
            rule("done", out)
            out.print(f"Temporal UI: {settings.resolved_temporal_ui_url()}")
            team = demo.summary["discussions"]["team_id"]
            out.print(
                f"this run's discussions: {team_query(team)}"
                + (f"  {link}" if (link := ui_list_link(settings, team_query(team))) else "")
            )
            if api := settings.resolved_api_url():
                # The web pages of everything this run made: its team's token signs in.
                token, _ = await create_token(demo.sessions, team_id=team, name="demo")
                out.print(f"dashboard: {api}/ui/ (sign in with team {team}'s token {token})")
                demo.summary["dashboard"] = {"url": f"{api}/ui/", "team_id": team}
            return demo.summary
    finally:
        await engine.dispose()


def team_query(team_id: str) -> str:
    """The visibility query that finds a team's runs (the Temporal UI's search box takes it)."""
    return f'IntakeTeamId = "{team_id}"'


async def _health(demo: Demo) -> None:
    from client.health import start_health_check

    rule("health check: Temporal -> worker -> PostgreSQL", demo.out)
    handle = await start_health_check(demo.client, task_queue=demo.settings.task_queue, pause_seconds=0.5)
    result = await handle.result()
    demo.out.print(
        Panel.fit(
            f"workflow   {handle.id}\n"
            f"row        health_checks.id = {result.row_id}\n"
            f"postgres   {result.database_version}\n"
            f"recorded   {result.recorded_at:%Y-%m-%d %H:%M:%S.%f}\n"
            f"confirmed  {result.confirmed_at:%Y-%m-%d %H:%M:%S.%f}",
            title="HealthCheckWorkflow completed",
        )
    )
    demo.out.print(f"run: {demo.link(handle.id, handle.result_run_id)}")
    demo.summary["health"] = {
        "workflow_id": handle.id,
        "run_id": handle.result_run_id,
        "ui": ui_link(demo.settings, handle.id, handle.result_run_id),
        **result.model_dump(mode="json"),
    }


async def _slack_webhook(demo: Demo, team: str) -> None:
    """What Slack does when someone mentions the app in a thread: one signed Events API request to
    the stack's API, then Slack's redelivery of it (accepted, then a duplicate); the API's inbox
    starter starts the thread's one run, which completes."""
    import hashlib
    import hmac
    import json
    import time

    import httpx

    from client.webhook_inbox import wait_for_run
    from client.webhooks import link_source
    from contracts.discussions import DiscussionResult
    from stack.embedded import SANDBOX_WEBHOOK_SECRETS

    api = demo.settings.resolved_api_url()
    if api is None:
        demo.out.print("no API runs on this stack: the Slack webhook step is skipped")
        return
    workspace = f"T0DEMO{demo.run_id.upper()}"
    await link_source(demo.sessions, team_id=team, source_type="slack", external_id=workspace)
    thread = await demo.sandbox.post_slack_thread(
        "C0PRODUCT",
        [
            ("U0CAROL", "The onboarding email links to a 404 page since the docs moved."),
            ("U0DANA", "Carol, can you fix the link in the email template by Friday?"),
        ],
    )
    channel, thread_ts = thread.split(":")
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": workspace,
            "api_app_id": "A0INTAKE",
            "event_id": f"Ev0DEMO{demo.run_id}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U0DANA",
                "text": "<@U0INTAKEBOT> please turn this thread into tasks",
                "channel": channel,
                "ts": f"{float(thread_ts) + 5:.6f}",
                "thread_ts": thread_ts,
            },
            "authorizations": [{"team_id": workspace, "user_id": "U0INTAKEBOT", "is_bot": True}],
        }
    ).encode()
    secret = demo.settings.slack_signing_secret
    key = secret.get_secret_value() if secret else SANDBOX_WEBHOOK_SECRETS["SLACK_SIGNING_SECRET"]
    answers = []
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        for retry in (None, "1"):
            stamp = str(int(time.time()))
            signature = "v0=" + hmac.new(key.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature,
                **({"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else {}),
            }
            started = time.perf_counter()
            response = await http.post("/webhooks/slack/events", content=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                demo.out.print(f"[red]the Slack webhook answered {response.status_code}[/]: {response.text}")
                return
            answers.append(response.json())
            demo.out.print(
                f"Slack event {'redelivered' if retry else 'delivered'} to {api}/webhooks/slack/events: "
                f"200 in {elapsed:.0f} ms, {answers[-1]['outcome']}"
            )
    workflow_id = answers[0]["workflow_id"]
    run_id = await wait_for_run(demo.client, workflow_id)  # the API's inbox starter starts it
    handle = demo.client.get_workflow_handle(workflow_id, run_id=run_id, result_type=DiscussionResult)
    result = await handle.result()
    runs = [w.run_id async for w in demo.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    once = "one run for both deliveries" if runs == [run_id] else f"[red]{len(runs)} runs[/]"
    demo.out.print(
        f"the mention's run ({once}) made {len(result.task_ids)} task(s): {demo.link(workflow_id, run_id)}",
        soft_wrap=True,
    )
    demo.summary["slack_webhook"] = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "ui": ui_link(demo.settings, workflow_id, run_id),
        "outcomes": [a["outcome"] for a in answers],
        "task_ids": result.task_ids,
    }


async def _discussions(demo: Demo) -> None:
    """Slack and Figma threads into Notion tasks; one run fails at task creation and is retried."""
    from client.discussions import retry_discussion, start_discussion
    from contracts.discussions import DiscussionInput
    from db.admin import DEMO_NOTION_DATABASE_ID
    from db.repositories.discussions import JobRepository, SourceConfigRepository, TaskRepository
    from db.uow import unit_of_work

    rule("discussions: Slack / Figma threads -> Notion tasks", demo.out)
    team = demo.team
    query = team_query(team)
    demo.out.print(
        f"team {team} (a new one each run: a thread is processed once per team); its runs in the Temporal UI: {query}"
    )
    async with unit_of_work(demo.sessions) as session:
        for source_type, name in (("slack", "Slack"), ("figma", "Figma comments")):
            await SourceConfigRepository().ensure(
                session=session,
                team_id=team,
                source_type=source_type,
                name=name,
                notion_database_id=DEMO_NOTION_DATABASE_ID,
            )
    fixtures = await demo.sandbox.fixtures()
    threads = [("slack", f"{t['channel']}:{t['ts']}") for t in fixtures["slack"]["threads"]]
    threads += [("figma", f"{fixtures['figma']['file_key']}:{t}") for t in fixtures["figma"]["threads"]]
    task_queue = demo.settings.task_queue

    def payload(source_type: str, thread: str) -> DiscussionInput:
        return DiscussionInput(team_id=team, source_type=source_type, source_thread_id=thread)

    # The first thread meets a Notion that refuses every page: its job fails at task_creation.
    await demo.sandbox.set_fault("notion", "pages.create", reject_rate=1.0)
    doomed = await start_discussion(demo.client, payload(*threads[0]), task_queue=task_queue)
    try:
        await doomed.result()
    except WorkflowFailureError as err:
        demo.out.print(f"[red]failed as planned[/]: {err.cause}")
    await demo.sandbox.clear_faults("notion")

    handles = [await start_discussion(demo.client, payload(*t), task_queue=task_queue) for t in threads[1:]]
    results = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
    for handle, result in zip(handles, results, strict=True):
        if isinstance(result, BaseException):
            demo.out.print(f"[red]{handle.id} failed[/]: {result}")

    await _slack_webhook(demo, team)

    async with demo.sessions() as session:
        failed = await JobRepository().find_one(session=session, team_id=team, status="failed")
    if failed is not None:
        demo.out.print(f"retrying discussion {failed.discussion_id} (a new job, the stored thread)")
        retried = await retry_discussion(
            demo.client,
            demo.sessions,
            team_id=team,
            discussion_id=str(failed.discussion_id),
            retried_by="demo",
            task_queue=task_queue,
        )
        await retried.result()

    async with demo.sessions() as session:
        jobs = await JobRepository().listing(session=session, team_id=team, limit=100)
        tasks = await TaskRepository().find_many(session=session, team_id=team, order_by=[])
    jobs.sort(key=lambda j: j.created_at)
    table = Table("job", "source", "status", "stage", "tasks", "ms", "retry")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.source_type,
            job.status,
            job.stage,
            str(len(job.job_metadata.get("taskIds", []))),
            str(job.job_metadata.get("processingTime", "")),
            "yes" if job.job_metadata.get("isRetry") else "",
        )
    demo.out.print(table)
    for job in jobs:
        demo.out.print(f"{job.id}  {demo.link(job.workflow_id, job.workflow_run_id)}", soft_wrap=True)
    table = Table("task", "priority", "assignee", "notion page")
    for task in tasks:
        table.add_row(task.title, task.priority or "", task.assignee or "", task.notion_page_url or "")
    demo.out.print(table)
    replies = await demo.sandbox.created("slack", "messages")
    demo.out.print(f"{len(tasks)} Notion pages, {len(replies)} Slack replies so far in the sandbox")
    demo.summary["discussions"] = {
        "team_id": team,
        "query": query,
        "ui": ui_list_link(demo.settings, query),
        "jobs": [
            {
                "id": str(job.id),
                "workflow_id": job.workflow_id,
                "run_id": job.workflow_run_id,
                "ui": ui_link(demo.settings, job.workflow_id, job.workflow_run_id),
                "source_type": job.source_type,
                "status": job.status,
                "stage": job.stage,
                "task_ids": job.job_metadata.get("taskIds", []),
                "is_retry": bool(job.job_metadata.get("isRetry")),
            }
            for job in jobs
        ],
        "tasks": [
            {
                "id": str(task.id),
                "title": task.title,
                "priority": task.priority,
                "assignee": task.assignee,
                "notion_page_url": task.notion_page_url,
            }
            for task in tasks
        ],
    }


async def _work_orders(demo: Demo) -> None:
    """Work orders and signed PDFs from the ops mailbox, one refused signature, a drain with a quota stop."""
    import tempfile
    from pathlib import Path

    from client.work_orders import load_preview, start_export_drain, start_file_ingest, start_gmail_ingest
    from contracts.exports import ExportDrainInput
    from contracts.work_orders import WorkspaceSpec
    from sandbox.seed_mail import WORK_ORDERS, signed_work_order_pdf

    rule("work orders: PDFs -> PostgreSQL -> Sheets export", demo.out)
    fixtures = await demo.sandbox.fixtures()
    workspace = WorkspaceSpec(
        slug=f"ops-{demo.run_id}",
        name="Ops",
        owner_user_id="ops@example.com",
        team_id=demo.team,
        spreadsheet_id=fixtures["sheets"]["spreadsheet_id"],
    )
    task_queue = demo.settings.task_queue
    table = Table("kind", "file", "work order", "outcome", "new", "detail")
    shown: list[dict[str, Any]] = []

    def show(kind: str, documents: list) -> None:
        for doc in documents:
            shown.append({"kind": kind, **doc.model_dump(mode="json")})
            detail = getattr(doc, "error", None) or getattr(doc, "reason", None) or ""
            table.add_row(
                kind, doc.filename, doc.work_order_number or "", doc.outcome, "yes" if doc.is_new else "", detail
            )

    # The drain is started by hand below (ingestion would kick it) to show a quota stop.
    orders = await start_gmail_ingest(
        demo.client,
        workspace=workspace,
        kind="workorder",
        user="ops@example.com",
        query='has:attachment subject:"work order"',
        task_queue=task_queue,
        drain_exports=False,
    )
    show("work order", (await orders.result()).documents)
    signed = await start_gmail_ingest(
        demo.client,
        workspace=workspace,
        kind="signed",
        user="ops@example.com",
        query="has:attachment subject:signed",
        task_queue=task_queue,
        drain_exports=False,
    )
    show("signed", (await signed.result()).documents)
    with tempfile.TemporaryDirectory() as tmp:
        second = Path(tmp) / "WO-10042-signed-again.pdf"
        second.write_bytes(signed_work_order_pdf(WORK_ORDERS[0], "Someone Else", "2024-06-21"))
        refused = await start_file_ingest(
            demo.client, second, workspace=workspace, kind="signed", task_queue=task_queue, drain_exports=False
        )
        show("signed", (await refused.result()).documents)
    demo.out.print(table)
    demo.out.print(
        f"runs are findable in the UI by IntakeWorkOrderId, e.g. {demo.link(orders.id, orders.result_run_id)}",
        soft_wrap=True,
    )

    await demo.sandbox.set_fault("sheets", "spreadsheets.values.append", quota_rate=1.0, times=1)
    cooldown = 5.0
    drain = await start_export_drain(
        demo.client, task_queue=task_queue, input=ExportDrainInput(cooldown_seconds=cooldown, concurrency=1)
    )
    for _ in range(100):
        if await drain.query("held"):
            demo.out.print(f"[yellow]Sheets answered quotaExceeded: the drain holds every job for {cooldown:.0f} s[/]")
            break
        await asyncio.sleep(0.1)
    totals = (await drain.result()).totals
    demo.out.print(
        f"drain {drain.id}: exported {totals.exported}, failed {totals.failed}, quota stops {totals.quota_stops}"
    )

    preview = Table("workspace", "work order", "site", "amount", "status", "export", "attempts", "sheet row")
    rows = await load_preview(demo.sessions)
    for row in rows:
        preview.add_row(
            row["workspace"],
            row["work_order_number"],
            clip(row["site"], 30, demo.out),
            row["amount"] or "",
            row["status"],
            row["export_status"] or "-",
            str(row["export_attempts"]),
            str(row["sheet_row"] or ""),
        )
    demo.out.print(preview)
    demo.summary["work_orders"] = {
        "workspace": workspace.slug,
        "documents": shown,
        "ingest": {
            "workflow_id": orders.id,
            "run_id": orders.result_run_id,
            "ui": ui_link(demo.settings, orders.id, orders.result_run_id),
        },
        "drain": {
            "workflow_id": drain.id,
            "run_id": drain.result_run_id,
            "ui": ui_link(demo.settings, drain.id, drain.result_run_id),
            **totals.model_dump(mode="json"),
        },
        "preview": rows,
    }


async def _signals(demo: Demo) -> None:
    """Gmail and Calendar of the sandbox's users into work items; one approval, one rejection."""
    from client.signals import approve_action, register_user, reject_action, start_ingestion
    from db.repositories import dashboard
    from db.repositories.run_log import RunLogRepository

    rule("signals: Gmail / Calendar -> work items -> approvals", demo.out)
    task_queue = demo.settings.task_queue
    users = {f"{mailbox.split('@')[0]}-{demo.run_id}": mailbox for mailbox in ("alice@example.com", "bob@example.com")}
    for user_id, mailbox in users.items():
        await register_user(
            demo.sessions, user_id=user_id, mailbox=mailbox, watch_keywords=["roadmap"], team_id=demo.team
        )
    handles = [await start_ingestion(demo.client, user_id, task_queue=task_queue, force=True) for user_id in users]
    ingestions: list[dict[str, Any]] = []
    for handle in handles:
        result = await handle.result()
        counts = ", ".join(f"{s.source} {s.fetched} fetched / {s.stored} stored" for s in result.sources)
        demo.out.print(f"{result.user_id}: {counts}  {demo.link(handle.id, handle.result_run_id)}", soft_wrap=True)
        ingestions.append(
            {
                "workflow_id": handle.id,
                "run_id": handle.result_run_id,
                "ui": ui_link(demo.settings, handle.id, handle.result_run_id),
                **result.model_dump(mode="json"),
            }
        )

    async def show_queue(title: str) -> list[dict]:
        async with demo.sessions() as session:
            rows = [
                row for user_id in users for row in await dashboard.approval_queue(session=session, user_id=user_id)
            ]
        table = Table("action", "user", "tier", "score", "proposes", "about", title=title)
        for row in rows:
            table.add_row(
                str(row["action_id"]),
                row["user_id"],
                row["importance_tier"],
                str(row["importance_score"]),
                row["action_type"],
                row["summary"],
            )
        demo.out.print(table)
        return rows

    before = await show_queue("approval queue")
    draft = next(row for row in before if row["action_type"] == "draft_reply")
    other = next(row for row in before if row["action_id"] != draft["action_id"])
    approved = await approve_action(
        demo.client,
        demo.sessions,
        str(draft["action_id"]),
        task_queue=task_queue,
        payload_override={"body": "Hi,\n\nYes, let us go ahead.\n"},
        approved_by="demo",
    )
    again = await approve_action(demo.client, demo.sessions, str(draft["action_id"]), task_queue=task_queue)
    demo.out.print(
        f"approved {draft['summary']!r}: Gmail draft {approved.provider_id}"
        f" (approved twice, same result: {approved == again})"
    )
    await reject_action(
        demo.client,
        demo.sessions,
        str(other["action_id"]),
        task_queue=task_queue,
        note="not needed",
        rejected_by="demo",
    )
    demo.out.print(f"rejected {other['summary']!r} (negative feedback recorded)")
    after = await show_queue("approval queue after")
    async with demo.sessions() as session:
        timeline = await RunLogRepository().timeline(draft["id"], session=session)
    demo.out.print(
        "run timeline of the approved item: "
        + " -> ".join(f"{run['phase']} ({', '.join(e['kind'] for e in run['events'])})" for run in timeline)
    )
    drafts = await demo.sandbox.created("gmail", "drafts")
    demo.out.print(f"{len(drafts)} Gmail draft(s) in the sandbox")
    # Kept for inspection but inactive, so `intake schedules apply` gives no demo's users a schedule
    # (and their ingestion, started by hand, says "user is not active").
    for user_id, mailbox in users.items():
        await register_user(demo.sessions, user_id=user_id, mailbox=mailbox, active=False)
    demo.summary["signals"] = {
        "users": list(users),
        "ingestions": ingestions,
        "approved": approved.model_dump(mode="json"),
        "approved_twice_same_result": approved == again,
        "rejected_action_id": str(other["action_id"]),
        "queue": after,  # print_json writes ids and times as strings
    }
