"""`intake ingest|inbox|approve|reject|queue-tool-call` and `intake report timeline`, as a user runs them."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from db.models.signals import SignalUser
from db.repository import Repository
from sandbox.control import SandboxControl
from tests.helpers import intake_cli as run


async def test_ingest_approve_reject_and_read_the_dashboard_from_the_command_line(
    settings: Settings,
    make_worker,
    sandbox: SandboxControl,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = f"cli-{uuid.uuid4().hex[:8]}"
    added = await run(settings, "ingest", "user-add", user, "--mailbox", "alice@example.com", "--watch", "roadmap")
    assert added.returncode == 0, added.stderr
    readded = await run(settings, "ingest", "user-add", user, "--mailbox", "alice@example.com")  # no --watch
    assert readded.returncode == 0, readded.stderr
    async with make_worker():
        first = await run(settings, "ingest", "run", user, "--json")
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["status"] == "completed"
        skipped = await run(settings, "ingest", "run", user)
        assert skipped.returncode == 0 and "skipped" in skipped.stdout

        listed = await run(settings, "inbox", "queue", "--user", user, "--json")
        assert listed.returncode == 0, listed.stderr
        queue = json.loads(listed.stdout)
        by_type = {row["action_type"]: row for row in queue}
        approved = await run(
            settings, "approve", by_type["draft_reply"]["action_id"], "--payload", '{"body": "Yes, renew."}', "--json"
        )
        assert approved.returncode == 0, approved.stderr
        outcome = json.loads(approved.stdout)
        rejected = await run(settings, "reject", by_type["refund_request"]["action_id"], "--note", "done already")
        assert rejected.returncode == 0 and "dismissed" in rejected.stdout
        refused = await run(settings, "approve", by_type["refund_request"]["action_id"])
        assert refused.returncode != 0 and "was rejected" in refused.stderr
        queued = await run(
            settings,
            "queue-tool-call",
            user,
            "--type",
            "draft_reply",
            "--summary",
            "Ping Tom",
            "--payload",
            '{"to": "tom@example.com", "subject": "Hi", "body": "Ping"}',
            "--json",
        )
        assert queued.returncode == 0 and json.loads(queued.stdout)["created"]

    after = json.loads((await run(settings, "inbox", "queue", "--user", user, "--json")).stdout)
    assert len(after) == len(queue) - 2 + 1
    drafts = json.loads((await run(settings, "inbox", "drafts", "--user", user, "--json")).stdout)
    assert [d["provider_id"] for d in drafts] == [outcome["provider_id"]]
    processed = json.loads((await run(settings, "inbox", "processed", "--user", user, "--json")).stdout)
    assert {p["status"] for p in processed} == {"completed", "dismissed"}
    timeline = await run(settings, "report", "timeline", outcome["work_item_id"], "--json")
    assert timeline.returncode == 0, (timeline.returncode, timeline.stderr)
    assert [r["phase"] for r in json.loads(timeline.stdout)] == ["ingest", "approve"]
    audit = json.loads((await run(settings, "inbox", "audit", "--target", outcome["work_item_id"], "--json")).stdout)
    assert [e["action"] for e in audit["entries"]] == ["work_item.ingested", "action.approved"]
    async with sessions() as session:  # the re-run without --watch kept the watched keyword
        registered = await Repository(SignalUser).find_by_id(user, session=session)
    assert registered is not None and registered.watch_keywords == ["roadmap"]
    status = json.loads((await run(settings, "ingest", "status", user, "--json")).stdout)
    assert status["gmail_cursor"] and status["last_error"] is None
