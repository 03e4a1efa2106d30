"""What the `intake` commands print when their output is a pipe (as in CI or a script), not a terminal.

Run links open their run in the Temporal UI, links and ids are whole on one line, and every
command that prints a table prints JSON instead with --json.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from client.signals import register_user
from core.settings import Settings
from db import admin
from db.repositories.discussions import SourceConfigRepository
from db.uow import unit_of_work
from sandbox.seed_mail import SPREADSHEET_ID, WORK_ORDERS, signed_work_order_pdf, work_order_pdf
from stack.temporal import TemporalDevServer
from tests.helpers import intake_cli, run_shown_by
from tests.test_discussion_pipeline import CHECKOUT
from worker import build_worker


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """A Temporal dev server with its Web UI (the session's server runs without one)."""
    server = TemporalDevServer(db_file=None, log_path=tmp_path_factory.mktemp("temporal-ui") / "temporal.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def ui_client(ui_server: TemporalDevServer) -> AsyncIterator[Client]:
    yield await Client.connect(ui_server.address, data_converter=pydantic_data_converter)


async def long_named_team(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A team whose id makes workflow ids and links longer than a line of 80 columns."""
    team = f"team-with-a-rather-long-name-{uuid.uuid4().hex}"
    async with unit_of_work(sessions) as session:
        for source_type in ("slack", "figma"):
            await SourceConfigRepository().ensure(
                session=session,
                team_id=team,
                source_type=source_type,
                name=source_type,
                notion_database_id=admin.DEMO_NOTION_DATABASE_ID,
            )
    return team


def whole_on_a_line(output: str, *values: str) -> bool:
    """Whether one line of `output` holds every one of `values` unbroken."""
    return any(all(value in line for value in values) for line in output.splitlines())


async def test_printed_run_links_open_their_run_in_the_temporal_ui(
    ui_server: TemporalDevServer,
    ui_client: Client,
    deps,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    sandbox,
) -> None:
    team = await long_named_team(sessions)
    user = f"user-with-a-rather-long-name-{uuid.uuid4().hex}"
    await register_user(sessions, user_id=user, mailbox="alice@example.com", watch_keywords=["roadmap"])
    on_ui_server = settings.model_copy(update={"temporal_address": ui_server.address})

    async def run(*args: str):
        return await intake_cli(on_ui_server, *args, TEMPORAL_UI_URL=ui_server.ui_url)

    async with build_worker(ui_client, deps, task_queue=settings.task_queue):
        printed = {
            "HealthCheckWorkflow": await run("health"),
            "DiscussionWorkflow": await run("discussion", "start", "--team", team, "--slack", CHECKOUT),
            "IngestSignalsWorkflow": await run("ingest", "run", user, "--force"),
        }
    for workflow_type, done in printed.items():
        assert done.returncode == 0, done.stderr
        links = [line.removeprefix("run: ") for line in done.stdout.splitlines() if line.startswith("run: ")]
        assert len(links) == 1, done.stdout
        shown = await run_shown_by(links[0])
        assert shown["type"]["name"] == workflow_type
        assert shown["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    started = printed["DiscussionWorkflow"].stdout.splitlines()[0]
    assert started == f"started discussion/{team}/slack/{CHECKOUT}"


async def test_piped_tables_keep_ids_whole_and_every_table_command_prints_json(
    settings: Settings,
    make_worker,
    sandbox,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    team = await long_named_team(sessions)
    user = f"user-with-a-rather-long-name-{uuid.uuid4().hex}"
    workspace = f"workspace-with-a-rather-long-slug-{uuid.uuid4().hex[:24]}"  # 58 of a slug's 63
    files = []
    for order in WORK_ORDERS:
        files.append(tmp_path / f"{order.number}.pdf")
        files[-1].write_bytes(work_order_pdf(order))
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signed_work_order_pdf(WORK_ORDERS[0], "Jordan Lee", "2024-06-14"))

    async def run(*args: str):
        done = await intake_cli(settings, *args, INTAKE_SPREADSHEET_ID=SPREADSHEET_ID)
        assert done.returncode == 0, f"intake {' '.join(args)}: {done.stderr}"
        return done.stdout

    async with make_worker():
        discussion = json.loads(await run("discussion", "start", "--team", team, "--slack", CHECKOUT, "--json"))
        ingested = await run("workorder", "ingest", *map(str, files), "-w", workspace)
        await run("ingest", "user-add", user, "--mailbox", "alice@example.com", "--watch", "roadmap")
        await run("ingest", "run", user, "--json")
        again = await run("workorder", "ingest", str(files[0]), "-w", workspace)
        matched = await run("signed", "ingest", str(signed), "-w", workspace, "--json")
    discussion_id = discussion["result"]["discussion_id"]

    status = await run("discussion", "status", discussion_id, "--team", team)
    shown = json.loads(await run("discussion", "status", discussion_id, "--team", team, "--json"))
    assert whole_on_a_line(status, shown["jobs"][0]["id"], shown["jobs"][0]["created_at"])
    for task in shown["tasks"]:
        assert whole_on_a_line(status, task["notion_page_url"])
    assert whole_on_a_line(await run("report", "jobs", "--team", team), team)
    preview = await run("report", "preview")
    for order in WORK_ORDERS:
        assert whole_on_a_line(preview, workspace, order.number)
        assert whole_on_a_line(ingested, f"{order.number}.pdf", order.number)
    assert whole_on_a_line(again, f"{WORK_ORDERS[0].number}.pdf", WORK_ORDERS[0].number, "duplicate")
    queue = await run("inbox", "queue", "--user", user)
    rows = json.loads(await run("inbox", "queue", "--user", user, "--json"))
    assert rows
    for row in rows:
        assert whole_on_a_line(queue, row["action_id"], user)

    # Every command that prints a table takes --json and then prints JSON alone (`intake demo`:
    # tests/test_intake_up.py).
    assert [doc["outcome"] for doc in json.loads(matched)] == ["matched"]
    for command in (
        ["report", "jobs"],
        ["report", "preview"],
        ["inbox", "queue"],
        ["inbox", "drafts"],
        ["inbox", "processed"],
        ["inbox", "audit"],
        ["export", "status"],
        ["schedules", "list"],
    ):
        json.loads(await run(*command, "--json"))
