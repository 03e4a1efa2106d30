"""Helpers shared by tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import all_workflows, workflow_runner

HISTORIES = Path(__file__).parent / "histories"


async def record_history(handle: WorkflowHandle, name: str) -> None:
    """Replay the finished run now; with INTAKE_RECORD_HISTORIES=1 also keep it for test_replay.py."""
    history = await handle.fetch_history()
    await Replayer(workflows=all_workflows(), workflow_runner=workflow_runner(),
                   data_converter=pydantic_data_converter).replay_workflow(history)
    if os.environ.get("INTAKE_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
