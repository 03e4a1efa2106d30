"""The project's Temporal Schedules, in one list: `intake schedules apply` makes the server match it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.cleanup import CleanupJobsInput, CleanupJobsWorkflow
from workflows.exports import ExportDrainInput, ExportDrainWorkflow, export_drain_workflow_id


@dataclass(frozen=True)
class ScheduleOptions:
    task_queue: str
    job_retention_days: int = 30


@dataclass(frozen=True)
class ScheduleDefinition:
    id: str
    description: str
    build: Callable[[ScheduleOptions], Schedule]


def _cleanup_jobs(options: ScheduleOptions) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CleanupJobsWorkflow.run,
            CleanupJobsInput(retention_days=options.job_retention_days),
            id="cleanup-jobs",
            task_queue=options.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _export_drain(options: ScheduleOptions) -> Schedule:
    """Each run hands over to the task queue's one drain (starting or waking it) and ends."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ExportDrainWorkflow.run,
            ExportDrainInput(hand_over_to=export_drain_workflow_id(options.task_queue)),
            id="export-drain-schedule",
            task_queue=options.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


SCHEDULES: list[ScheduleDefinition] = [
    ScheduleDefinition("cleanup-jobs", "daily: delete finished discussion jobs past retention",
                       _cleanup_jobs),
    ScheduleDefinition("export-drain", "every minute: export queued work orders to Sheets (seed 003)",
                       _export_drain),
]


async def apply_schedules(client: Client, options: ScheduleOptions) -> dict[str, str]:
    """Create each schedule, or update it in place when it exists; returns id -> 'created'/'updated'."""
    outcome: dict[str, str] = {}
    for definition in SCHEDULES:
        schedule = definition.build(options)
        try:
            await client.create_schedule(definition.id, schedule)
            outcome[definition.id] = "created"
        except ScheduleAlreadyRunningError:
            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(definition.id).update(replace)
            outcome[definition.id] = "updated"
    return outcome
