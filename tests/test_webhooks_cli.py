"""`intake webhooks`: link a Slack workspace or Figma webhook to a team; Notion integrations."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.discussions import discussion_workflow_id
from core.settings import Settings
from db.repositories.webhooks import WebhookInboxRepository, WebhookMappingRepository
from db.uow import unit_of_work
from tests.helpers import intake_cli


async def test_link_maps_a_workspace_to_the_team_and_refuses_bad_input(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    done = await intake_cli(settings, "webhooks", "link", "--team", team, "--source", "slack", "--id", "T0ACME")
    assert done.returncode == 0, done.stderr
    assert f"Slack workspace (team_id) T0ACME -> team {team}" in done.stdout
    async with sessions() as session:
        mapped = await WebhookMappingRepository().find("slack", "T0ACME", session=session)
    assert mapped is not None and mapped.team_id == team

    taken = await intake_cli(settings, "webhooks", "link", "--team", "other", "--source", "slack", "--id", "T0ACME")
    wrong = await intake_cli(settings, "webhooks", "link", "--team", team, "--source", "gmail", "--id", "x")
    for result in (taken, wrong):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
    assert "has no slack source config" in taken.stderr
    assert "slack or figma" in wrong.stderr


async def test_notion_add_prints_the_url_and_token_shows_what_notion_sent(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    added = await intake_cli(settings, "webhooks", "notion", "add", "--team", team, "--json")
    assert added.returncode == 0, added.stderr
    info = json.loads(added.stdout)
    assert info["url"].endswith(f"/webhooks/notion/{info['id']}")
    none_yet = await intake_cli(settings, "webhooks", "notion", "token", info["id"])
    assert none_yet.returncode == 1 and "has not sent" in none_yet.stdout
    bad = await intake_cli(settings, "webhooks", "notion", "token", "not-a-uuid")
    assert bad.returncode == 2 and "is not a Notion integration id" in bad.stderr


async def test_inbox_shows_the_events_waiting_for_their_start_and_why(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    empty = await intake_cli(settings, "webhooks", "inbox")
    assert empty.returncode == 0, empty.stderr
    assert "webhook inbox: 0 pending (0 after a failed start); 0 started" in empty.stdout

    thread = "C0INBOX:1718000000.000100"
    workflow_id = discussion_workflow_id(team, "slack", thread)
    async with unit_of_work(sessions) as session:
        repository = WebhookInboxRepository()
        await repository.accept(
            [
                {
                    "workflow_id": workflow_id,
                    "team_id": team,
                    "source_type": "slack",
                    "source_thread_id": thread,
                    "input": {"team_id": team, "source_type": "slack", "source_thread_id": thread},
                }
            ],
            session=session,
        )
        (claimed,) = await repository.claim(10, session=session)
        await repository.postpone(
            [(claimed.id, "RuntimeError: Failed client connect: connection refused", 60.0)], session=session
        )
    shown = await intake_cli(settings, "webhooks", "inbox")
    assert shown.returncode == 0, shown.stderr
    assert "webhook inbox: 1 pending (1 after a failed start), the oldest for" in shown.stdout
    assert workflow_id in shown.stdout and "connection refused" in shown.stdout  # whole, through a pipe
    as_json = json.loads((await intake_cli(settings, "webhooks", "inbox", "--json")).stdout)
    assert (as_json["pending"], as_json["retrying"], as_json["settled"]) == (1, 1, 0)
    assert as_json["oldest"][0]["workflow_id"] == workflow_id and as_json["oldest"][0]["attempts"] == 1

    bad = await intake_cli(settings, "webhooks", "inbox", "--limit", "0")
    assert bad.returncode == 2 and "--limit" in bad.stderr
