"""Determinism: every recorded history in tests/histories replays on today's workflow code.

A change that alters what a workflow does for an existing history (a reordered
activity, a new timer without `workflow.patched`) fails here, before it breaks
runs in production. Record new histories with `INTAKE_RECORD_HISTORIES=1 make test`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

# This module defines a workflow, so the sandbox re-imports it: everything else passes through.
with workflow.unsafe.imports_passed_through():
    from activities.health import HealthActivities
    from contracts.health import ConfirmHealthCheckInput
    from worker import all_workflows, workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert HISTORIES, "tests/histories holds no recorded history to replay"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=all_workflows(), workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@workflow.defn(name="HealthCheckWorkflow")
class ConfirmFirstHealthCheck:
    """HealthCheckWorkflow as a careless edit might leave it: it no longer records first."""

    @workflow.run
    async def run(self, input: dict) -> None:
        await workflow.execute_activity_method(
            HealthActivities.confirm,
            ConfirmHealthCheckInput(check_id="x"),
            start_to_close_timeout=timedelta(seconds=5),
        )


async def test_a_changed_workflow_fails_to_replay_an_old_history() -> None:
    """The harness can fail: replaying with the edited workflow reports nondeterminism."""
    path = next(p for p in HISTORIES if p.stem == "health_check")
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[ConfirmFirstHealthCheck], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
