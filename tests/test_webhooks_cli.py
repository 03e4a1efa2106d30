"""`intake webhooks`: link a Slack workspace or Figma webhook to a team; Notion integrations."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from db.repositories.webhooks import WebhookMappingRepository
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
