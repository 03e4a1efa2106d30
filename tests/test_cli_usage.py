"""What a user types wrong, found by trying the product: Click's usage errors, option clashes,
ids that cannot name a workflow, payloads that cannot be approved, and piped tables that keep
their ids. Each is one line on stderr and exit 2, with nothing written and no run started."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from contracts.approvals import tool_call_workflow_id
from core.settings import Settings
from db.repositories.discussions import JobRepository
from db.uow import unit_of_work
from tests.helpers import intake_cli
from tests.test_cli_bad_input import never_started, one_line, refused


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("discusion", "start"), "No such command 'discusion'. Did you mean 'discussion'? (see `intake --help`)"),
        (("discussion", "start", "--tema", "x"), "No such option: --tema"),
        (("report", "jobs", "--limit", "abc"), "Invalid value for '--limit'"),
        (("feedback", "some-action"), "Missing option '--positive'"),
    ],
)
async def test_a_usage_error_is_one_line_naming_the_help_to_read(settings: Settings, args: tuple, says: str) -> None:
    done = await intake_cli(settings, *args)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith("error: ") and says in line, line
    assert "╭" not in done.stderr


async def test_a_payload_file_is_given_alone(settings: Settings, engine: AsyncEngine, tmp_path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"team_id": "acme", "source_type": "slack", "source_thread_id": "C1:1.0"}))
    line = await refused(settings, engine, "discussion", "start", "--file", str(payload), "--team", "other")
    assert "give it alone, without --team" in line


@pytest.mark.parametrize("user", ["bad user", "a/b", "../x", ""])
async def test_a_user_id_must_be_able_to_name_workflows(settings: Settings, engine: AsyncEngine, user: str) -> None:
    line = await refused(settings, engine, "ingest", "user-add", user, "--mailbox", "x@example.com")
    assert f"user id {user!r} is not valid" in line


async def test_a_tool_call_payload_is_checked_before_a_run_starts(
    settings: Settings, engine: AsyncEngine, client: Client, make_worker
) -> None:
    user = f"alice-{uuid.uuid4().hex[:6]}"
    assert (await intake_cli(settings, "ingest", "user-add", user, "--mailbox", f"{user}@example.com")).returncode == 0
    backwards = {"summary": "sync", "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T09:00:00Z"}
    cases = [
        ("draft_reply", {}, "not a draft_reply payload: to: Field required; subject: Field required"),
        ("schedule_event", backwards, "ends (2026-01-01T09:00:00+00:00) before it starts"),
    ]
    async with make_worker():
        for kind, payload, says in cases:
            call = f"call-{uuid.uuid4().hex[:6]}"
            line = await refused(
                settings, engine, "queue-tool-call", user, "--type", kind, "--summary", "s",
                "--payload", json.dumps(payload), "--call-id", call,
            )  # fmt: skip
            assert says in line, line
            assert "errors.pydantic.dev" not in line
            assert await never_started(client, tool_call_workflow_id(user, call))


async def test_piped_job_ids_are_whole(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        job = await JobRepository().create(
            session=session, team_id=f"t-{uuid.uuid4().hex[:6]}", source_type="slack", workflow_id="wf",
            workflow_run_id="r", status="failed", error="x" * 300,
        )  # fmt: skip
    done = await intake_cli(settings, "report", "jobs", "--team", job.team_id)
    assert done.returncode == 0, done.stderr
    assert str(job.id) in done.stdout and "x" * 300 in done.stdout  # nothing cut when piped


async def test_a_profile_is_set_only_in_a_workspace_with_a_well_formed_slug(
    settings: Settings, engine: AsyncEngine
) -> None:
    line = await refused(settings, engine, "workorder", "profile", "set", "usfm", "-w", "Bad Slug!", "--name", "US")
    assert "workspace" in line and "slug" in line, line
