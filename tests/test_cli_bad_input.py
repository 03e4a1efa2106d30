"""Bad input at the command line: one line on stderr naming the problem, exit 2, nothing written.

And a run that fails says why in one line (exit 1); what failed can be started again or
retried from what the message says; every `intake ...` command an error hints at exists.
Every command runs in a subprocess against the test stack, as a user runs it.
"""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError
from typer.testing import CliRunner

import db.models  # noqa: F401 - every table in Base.metadata
from client.discussions import start_discussion
from client.work_orders import start_file_ingest
from contracts.discussions import discussion_id_for, discussion_workflow_id
from contracts.exports import export_drain_workflow_id
from contracts.signals import ingest_signals_workflow_id
from contracts.work_orders import WorkspaceSpec
from core.settings import Settings
from db import admin
from db.base import Base
from db.repositories.discussions import JobRepository, SourceConfigRepository
from db.repositories.exports import ExportJobRepository
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID, WORK_ORDERS, work_order_pdf
from tests.helpers import intake_cli
from tests.test_discussion_pipeline import CHECKOUT, slack_thread

ROOT = Path(__file__).resolve().parent.parent
MISSING_THREAD = "C0PRODUCT:1999999999.000100"  # well formed; the sandbox's Slack has no such thread
UI = "http://127.0.0.1:8233"  # a Temporal UI for the printed links (not opened here)


# Written by the worker in the background, a moment after the attempts of runs that came before
# (activities/attempts.py), never by a command: not part of what a refused command must leave as it was.
BACKGROUND_TABLES = {"job_attempts"}


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in Base.metadata.sorted_tables
            if table.name not in BACKGROUND_TABLES
        }


def one_line(stderr: str) -> str:
    """The single line a refusal or a failure prints, checked to be one line and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


async def never_started(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return True
    return False


async def refused(settings: Settings, engine: AsyncEngine, *args: str) -> str:
    """Run the command; assert exit 2, one line, no traceback and no row written; return the line."""
    before = await row_counts(engine)
    done = await intake_cli(settings, *args)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    line = one_line(done.stderr)
    assert await row_counts(engine) == before
    return line


# -- discussion start: what can be checked is checked before a run starts ----------------------


@pytest.mark.parametrize(
    "case, reason",
    [
        ("unknown team", "has no enabled slack source config"),
        ("no colon", "is not valid: expected <channel>:<thread ts>"),
        ("directory", "is a directory"),
        ("payload of an unknown team", "has no enabled slack source config"),
        ("not a payload", "is not a valid discussion payload: source_type:"),
    ],
)
async def test_discussion_start_refuses_bad_input_before_a_run_starts(
    settings: Settings,
    engine: AsyncEngine,
    client: Client,
    make_worker,
    team: str,
    tmp_path: Path,
    case: str,
    reason: str,
) -> None:
    (tmp_path / "payloads").mkdir()
    unknown = f"unknown-{team}"
    args, workflow_id = {
        "unknown team": (["--team", unknown, "--slack", CHECKOUT], discussion_workflow_id(unknown, "slack", CHECKOUT)),
        "no colon": (["--team", team, "--slack", "C0PRODUCT"], discussion_workflow_id(team, "slack", "C0PRODUCT")),
        "directory": (["--file", str(tmp_path / "payloads")], None),
        "payload of an unknown team": (
            ["--file", str(tmp_path / "unknown.json")],
            discussion_workflow_id(unknown, "slack", CHECKOUT),
        ),
        "not a payload": (["--file", str(tmp_path / "teams.json")], None),
    }[case]
    (tmp_path / "unknown.json").write_text(slack_thread(unknown).model_dump_json())
    (tmp_path / "teams.json").write_text('{"team_id": "t", "source_type": "teams", "source_thread_id": "x:y"}')
    async with make_worker():  # were a run started, it would run (and fail) rather than hang
        line = await refused(settings, engine, "discussion", "start", *args)
    assert reason in line
    if workflow_id is not None:
        assert await never_started(client, workflow_id)


async def test_a_run_that_fails_says_why_in_one_line_and_exits_1(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    make_worker,
    sandbox: SandboxControl,
    team: str,
) -> None:
    async with make_worker():
        done = await intake_cli(
            settings, "discussion", "start", "--team", team, "--slack", MISSING_THREAD, TEMPORAL_UI_URL=UI
        )
    assert done.returncode == 1, (done.stdout, done.stderr)
    line = one_line(done.stderr)
    assert "discussion failed at stage thread_building:" in line and MISSING_THREAD in line
    # The failed run's link was printed when it started, to open it in the Temporal UI
    # (test_cli_output.py opens such links on a server with its UI).
    workflow_id = discussion_workflow_id(team, "slack", MISSING_THREAD)
    started, link = done.stdout.splitlines()[:2]
    assert started == f"started {workflow_id}"
    assert link.startswith(f"run: {UI}/namespaces/default/workflows/{quote(workflow_id, safe='')}/")
    async with sessions() as session:  # the run happened: its job says so
        job = await JobRepository().find_one(session=session, team_id=team)
    assert job is not None and (job.status, job.stage) == ("failed", "thread_building")


# -- nothing is a dead end after a failure ------------------------------------------------------


async def test_a_thread_refused_at_ingestion_starts_afresh_once_its_team_is_configured(
    settings: Settings,
    engine: AsyncEngine,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    make_worker,
    sandbox: SandboxControl,
    task_queue: str,
) -> None:
    team = f"later-{uuid.uuid4().hex[:8]}"
    async with make_worker():
        # A run started without the client's check (a webhook, an older client) fails at ingestion:
        # a failed job, no discussion.
        early = await start_discussion(client, slack_thread(team), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await early.result()
        assert "stage ingestion" in str(failed.value.cause)

        line = await refused(settings, engine, "discussion", "start", "--team", team, "--slack", CHECKOUT)
        assert "has no enabled slack source config" in line

        async with unit_of_work(sessions) as session:
            await SourceConfigRepository().ensure(
                session=session,
                team_id=team,
                source_type="slack",
                name="slack",
                notion_database_id=admin.DEMO_NOTION_DATABASE_ID,
            )
        again = await intake_cli(settings, "discussion", "start", "--team", team, "--slack", CHECKOUT)
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stdout
    status = await intake_cli(
        settings, "discussion", "status", str(discussion_id_for(team, "slack", CHECKOUT)), "--team", team
    )
    assert status.returncode == 0 and "completed" in status.stdout, status.stderr
    async with sessions() as session:
        statuses = sorted(j.status for j in await JobRepository().find_many(session=session, team_id=team))
    assert statuses == ["completed", "failed"]


async def test_a_failed_discussion_is_retried_with_the_command_its_message_gives(
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    make_worker,
    sandbox: SandboxControl,
    team: str,
) -> None:
    await sandbox.revoke_token("notion", "secret_sandbox")
    async with make_worker():
        failed = await intake_cli(settings, "discussion", "start", "--team", team, "--slack", CHECKOUT)
        assert failed.returncode == 1 and "stage task_creation" in one_line(failed.stderr)
        await sandbox.reset(seed=0)  # Notion is back

        line = await refused(settings, engine, "discussion", "start", "--team", team, "--slack", CHECKOUT)
        assert "was already processed" in line
        hinted = re.search(r"`intake (discussion retry [^`]+)`", line)
        assert hinted, line
        # Another team's id is unknown to this team: refused, nothing written.
        discussion_id = str(discussion_id_for(team, "slack", CHECKOUT))
        for command in ("retry", "status"):
            other = await refused(settings, engine, "discussion", command, discussion_id, "--team", f"x{team}")
            assert f"has no discussion {discussion_id}" in other

        retried = await intake_cli(settings, *hinted.group(1).split())
    assert retried.returncode == 0, retried.stderr
    assert "completed" in retried.stdout


# -- ids nobody has ------------------------------------------------------------------------------


async def test_commands_taking_ids_refuse_ids_nobody_has(
    settings: Settings,
    engine: AsyncEngine,
    client: Client,
    make_worker,
    task_queue: str,
) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"
    unknown = str(uuid.uuid4())
    expected = {
        ("export", "retry", unknown): f"no export job {unknown}",
        ("approve", unknown): f"no proposed action {unknown}",
        ("reject", unknown): f"no proposed action {unknown}",
        ("feedback", unknown, "--positive"): f"no proposed action {unknown}",
        ("approve", "not-an-id"): "'not-an-id' is not an action id",
        ("report", "timeline", unknown, "--json"): f"no work item {unknown}",
        ("report", "timeline", "not-an-id"): "'not-an-id' is not a work item id",
        ("inbox", "audit", "--target", unknown, "--json"): f"no work item {unknown}",
        ("discussion", "status", unknown, "--team", "acme"): f"team 'acme' has no discussion {unknown}",
        ("discussion", "retry", unknown, "--team", "acme"): f"team 'acme' has no discussion {unknown}",
        ("discussion", "status", "not-an-id", "--team", "acme"): "'not-an-id' is not a discussion id",
        ("ingest", "status", nobody): f"no signal user {nobody!r}",
        ("ingest", "run", nobody): f"no signal user {nobody!r}",
        (
            "queue-tool-call",
            nobody,
            "--type",
            "draft_reply",
            "--summary",
            "s",
            "--payload",
            '{"to": "a@example.com", "subject": "s", "body": "b"}',
        ): f"no signal user {nobody!r}",
    }
    async with make_worker():
        for args, reason in expected.items():
            assert reason in await refused(settings, engine, *args), args
    assert await never_started(client, export_drain_workflow_id(task_queue))
    assert await never_started(client, ingest_signals_workflow_id(nobody))


async def test_export_retry_refuses_a_job_that_has_not_failed(
    settings: Settings,
    engine: AsyncEngine,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    make_worker,
    sandbox: SandboxControl,
    task_queue: str,
    tmp_path: Path,
) -> None:
    pdf = tmp_path / "order.pdf"
    pdf.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    workspace = WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID)
    async with make_worker():
        await (
            await start_file_ingest(
                client, pdf, workspace=workspace, kind="workorder", task_queue=task_queue, drain_exports=False
            )
        ).result()
        async with sessions() as session:
            job = await ExportJobRepository().find_one(session=session)
        assert job is not None and job.status == "PENDING"
        line = await refused(settings, engine, "export", "retry", str(job.id))
    assert f"export job {job.id} is PENDING, not FAILED" in line
    assert await never_started(client, export_drain_workflow_id(task_queue))


# -- hints name commands that exist --------------------------------------------------------------


def hinted_commands() -> dict[str, str]:
    """Every `intake ...` command named in a string of the product (messages, hints; not docstrings),
    as its command words (up to the first argument, option or placeholder), with where it is."""
    found: dict[str, str] = {}
    paths = [ROOT / "worker.py"]
    for directory in ("activities", "cli", "client", "core", "db", "integrations", "stack", "workflows"):
        paths += sorted((ROOT / directory).rglob("*.py"))
    for path in paths:
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}" for v in node.values
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            for hint in re.findall(r"`intake ([^`]*)`", text):
                words = []
                for word in hint.split():
                    if not re.fullmatch(r"[a-z][a-z-]*", word):
                        break
                    words.append(word)
                found.setdefault(" ".join(words), f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_hints_include_the_commands_errors_name() -> None:
    hints = hinted_commands()
    assert {"ingest user-add", "discussion retry", "discussion status", "export status", "db seed"} <= set(hints)


def test_every_command_a_message_hints_at_exists() -> None:
    from cli.main import app

    runner = CliRunner()
    for words, where in hinted_commands().items():
        shown = runner.invoke(app, [*words.split(), "--help"])
        assert shown.exit_code == 0, f"`intake {words}` (hinted at {where}) does not exist: {shown.output}"
