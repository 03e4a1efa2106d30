"""Start a health check (used by `intake health`)."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle

from contracts.health import HealthCheckInput, HealthCheckResult, health_check_workflow_id
from workflows.health import HealthCheckWorkflow


async def start_health_check(
    client: Client, *, task_queue: str, pause_seconds: float = 0.0, workflow_id: str | None = None
) -> WorkflowHandle[HealthCheckWorkflow, HealthCheckResult]:
    return await client.start_workflow(
        HealthCheckWorkflow.run,
        HealthCheckInput(pause_seconds=pause_seconds),
        id=workflow_id or health_check_workflow_id(str(uuid.uuid4())),
        task_queue=task_queue,
    )
