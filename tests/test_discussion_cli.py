"""`intake discussion ...` and `intake report jobs` as a user runs them, against the test stack."""

from __future__ import annotations

import json

from core.settings import Settings
from tests.helpers import intake_cli
from tests.test_discussion_pipeline import CHECKOUT


async def run(settings: Settings, *args: str):
    return await intake_cli(settings, *args)


async def test_start_status_report_and_a_refused_retry(settings: Settings, make_worker, sandbox, team: str) -> None:
    async with make_worker():
        started = await run(settings, "discussion", "start", "--team", team, "--slack", CHECKOUT, "--json")
    assert started.returncode == 0, started.stderr
    result = json.loads(started.stdout)["result"]
    assert len(result["task_ids"]) > 1

    status = await run(settings, "discussion", "status", result["discussion_id"], "--team", team, "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["discussion"]["status"] == "completed"
    assert [t["id"] for t in shown["tasks"]] == result["task_ids"]
    assert shown["jobs"][0]["id"] == result["job_id"]

    report = await run(settings, "report", "jobs", "--team", team, "--json")
    assert [row["id"] for row in json.loads(report.stdout)] == [result["job_id"]]

    refused = await run(settings, "discussion", "retry", result["discussion_id"], "--team", team)
    assert refused.returncode != 0
    assert "is completed, not failed" in refused.stderr

    again = await run(settings, "discussion", "start", "--team", team, "--slack", CHECKOUT)
    assert again.returncode != 0 and "already processed" in again.stderr


async def test_a_bad_payload_file_is_refused_before_anything_starts(settings: Settings, tmp_path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"team_id": "t", "source_type": "teams", "source_thread_id": "x:y"}))
    refused = await run(settings, "discussion", "start", "--file", str(payload))
    assert refused.returncode != 0
    assert "not a valid discussion payload" in refused.stderr and "source_type" in refused.stderr
