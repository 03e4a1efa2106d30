"""The project's Temporal Schedules, in one list: `intake schedules apply` makes the server match it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from contracts.discussions import CleanupJobsInput
from contracts.exports import ExportDrainInput, export_drain_workflow_id
from contracts.mirror import PRUNE_MIRROR_WORKFLOW_ID, PruneMirrorInput
from contracts.signals import (
    IngestSignalsInput,
    PruneRunLogInput,
    ingest_signals_schedule_id,
    scheduled_ingest_workflow_id,
)
from workflows.discussions import CleanupJobsWorkflow
from workflows.exports import ExportDrainWorkflow
from workflows.mirror import PruneMirrorWorkflow
from workflows.search_attributes import USER_ID
from workflows.signals import IngestSignalsWorkflow, PruneRunLogWorkflow


@dataclass(frozen=True)
class ScheduleOptions:
    task_queue: str
    job_retention_days: int = 30
    run_log_retention_days: int = 30
    mirror_retention_days: int = 30
    # Users whose signals are ingested on a schedule (the active ones, read by the caller).
    signal_users: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleDefinition:
    id: str
    description: str
    build: Callable[[ScheduleOptions], Schedule]


@dataclass(frozen=True)
class ScheduleFamily:
    """Several schedules from one definition (e.g. one per active user), ids starting with `prefix`."""

    prefix: str
    description: str
    build: Callable[[ScheduleOptions], dict[str, Schedule]]


def _every(
    interval: timedelta,
    workflow_run: Any,
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    search_attributes: TypedSearchAttributes | None = None,
) -> Schedule:
    """Start `workflow_run(arg)` every `interval`; a run still going when the next is due makes it skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow_run,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            typed_search_attributes=search_attributes or TypedSearchAttributes.empty,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _cleanup_jobs(options: ScheduleOptions) -> Schedule:
    return _every(
        timedelta(days=1),
        CleanupJobsWorkflow.run,
        CleanupJobsInput(retention_days=options.job_retention_days),
        workflow_id="cleanup-jobs",
        task_queue=options.task_queue,
    )


def _export_drain(options: ScheduleOptions) -> Schedule:
    """Each run hands over to the task queue's one drain (starting or waking it) and ends."""
    return _every(
        timedelta(minutes=1),
        ExportDrainWorkflow.run,
        ExportDrainInput(hand_over_to=export_drain_workflow_id(options.task_queue)),
        workflow_id="export-drain-schedule",
        task_queue=options.task_queue,
    )


def _prune_run_log(options: ScheduleOptions) -> Schedule:
    return _every(
        timedelta(days=1),
        PruneRunLogWorkflow.run,
        PruneRunLogInput(retention_days=options.run_log_retention_days),
        workflow_id="prune-run-log",
        task_queue=options.task_queue,
    )


def _prune_mirror(options: ScheduleOptions) -> Schedule:
    return _every(
        timedelta(days=1),
        PruneMirrorWorkflow.run,
        PruneMirrorInput(retention_days=options.mirror_retention_days),
        workflow_id=PRUNE_MIRROR_WORKFLOW_ID,
        task_queue=options.task_queue,
    )


def _ingest_signals(options: ScheduleOptions) -> dict[str, Schedule]:
    """Every 5 minutes per active user."""
    return {
        ingest_signals_schedule_id(user_id): _every(
            timedelta(minutes=5),
            IngestSignalsWorkflow.run,
            IngestSignalsInput(user_id=user_id),
            workflow_id=scheduled_ingest_workflow_id(user_id),
            task_queue=options.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
        )
        for user_id in options.signal_users
    }


SCHEDULES: list[ScheduleDefinition] = [
    ScheduleDefinition("cleanup-jobs", "daily: delete finished discussion jobs past retention", _cleanup_jobs),
    ScheduleDefinition("export-drain", "every minute: export queued work orders to Sheets", _export_drain),
    ScheduleDefinition("prune-run-log", "daily: delete signal run log events and runs past retention", _prune_run_log),
    ScheduleDefinition("prune-mirror", "daily: delete engine mirror runs and attempts past retention", _prune_mirror),
]

SCHEDULE_FAMILIES: list[ScheduleFamily] = [
    ScheduleFamily("ingest-signals/", "every 5 minutes: ingest one user's Gmail and Calendar", _ingest_signals),
]


def expand_schedules(options: ScheduleOptions) -> Iterator[tuple[str, Schedule]]:
    """Every schedule the options call for: each definition's, then each family's."""
    for definition in SCHEDULES:
        yield definition.id, definition.build(options)
    for family in SCHEDULE_FAMILIES:
        yield from family.build(options).items()


def describe(schedule_id: str) -> str:
    """The description of the definition or family a schedule id belongs to."""
    for definition in SCHEDULES:
        if definition.id == schedule_id:
            return definition.description
    return next((f.description for f in SCHEDULE_FAMILIES if schedule_id.startswith(f.prefix)), "")


async def apply_schedules(client: Client, options: ScheduleOptions) -> dict[str, str]:
    """Create each schedule, or update it in place when it exists; returns id -> 'created'/'updated'."""
    outcome: dict[str, str] = {}
    for schedule_id, schedule in expand_schedules(options):
        try:
            await client.create_schedule(schedule_id, schedule)
            outcome[schedule_id] = "created"
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(schedule_id).update(replace)
            outcome[schedule_id] = "updated"
    return outcome
