from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle

from workflows.health import HealthCheckInput, HealthCheckResult, HealthCheckWorkflow


async def start_health_check(
    client: Client, *, task_queue: str, pause_seconds: float = 0.0, workflow_id: str | None = None
) -> WorkflowHandle[HealthCheckWorkflow, HealthCheckResult]:
    return await client.start_workflow(
        HealthCheckWorkflow.run,
        HealthCheckInput(pause_seconds=pause_seconds),
        id=workflow_id or f"health-{uuid.uuid4()}",
        task_queue=task_queue,
    )
