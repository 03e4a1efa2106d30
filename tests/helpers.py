"""Helpers shared by tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from core.settings import Settings
from worker import all_workflows, workflow_runner

HISTORIES = Path(__file__).parent / "histories"


async def record_history(handle: WorkflowHandle, name: str) -> None:
    """Replay the finished run now; with INTAKE_RECORD_HISTORIES=1 also keep it for test_replay.py."""
    history = await handle.fetch_history()
    await Replayer(
        workflows=all_workflows(), workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    ).replay_workflow(history)
    if os.environ.get("INTAKE_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


async def intake_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `intake ARGS...` in a subprocess against the test stack (`settings`), as a user would.

    It runs in a thread, so a worker in the test's event loop keeps serving it.
    """
    environment = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_TASK_QUEUE": settings.task_queue,
        "SANDBOX_URL": settings.resolved_sandbox_url() or "",
        "INTAKE_STATE_DIR": str(settings.state_dir),
        **env,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


async def run_shown_by(link: str) -> dict[str, Any]:
    """The run the Temporal UI's page at `link` shows, as the page itself loads it.

    The UI is a single-page app (any path answers 200). Its run page, at
    /namespaces/<namespace>/workflows/<workflow id>/<run id>[/<tab>] with each part one
    percent-encoded path segment, decodes the parts and asks the UI server for
    /api/v1/namespaces/<namespace>/workflows/<workflow id, encoded>?execution.runId=<run id>
    (DescribeWorkflowExecution, passed on to Temporal). This makes that request and returns the
    answer's workflowExecutionInfo; it fails when the link is not such a page or names no run.
    """
    parts = urlsplit(link)
    segments = parts.path.split("/")
    assert len(segments) == 6 and segments[:2] == ["", "namespaces"] and segments[3] == "workflows", link
    namespace, workflow_id, run_id = (unquote(segment) for segment in (segments[2], segments[4], segments[5]))
    api = (
        f"{parts.scheme}://{parts.netloc}/api/v1/namespaces/{quote(namespace, safe='')}/workflows/"
        f"{quote(workflow_id, safe='')}?execution.runId={quote(run_id, safe='')}"
    )
    async with httpx.AsyncClient() as http:
        response = await http.get(api, timeout=10)
    assert response.status_code == 200, f"{link} -> {api}: {response.status_code} {response.text}"
    info = response.json()["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": workflow_id, "runId": run_id}, link
    return info
