"""The Temporal worker: wiring only.

Builds the settings, the engine, the outside-service clients and the activity
objects once, and registers every workflow and activity of `PIPELINES`. A new
pipeline is one line there. Stops gracefully on SIGTERM / SIGINT: no new tasks
are polled, running activities get `graceful_shutdown_timeout` to finish.

At start it waits for PostgreSQL and Temporal to answer (`client.readiness`, one line per wait,
up to INTAKE_WAIT_TIMEOUT), so workers may start before them. Logs, traces and metrics are set
up by `telemetry` (off unless configured). Run it with `python -m worker` (the embedded stack
does), `intake worker`, or `intake worker --count N` for N worker processes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.approvals import ApprovalActivities
from activities.attempts import AttemptRecorder
from activities.batches import BatchActivities
from activities.deps import Deps
from activities.discussions import DiscussionActivities
from activities.exports import ExportActivities
from activities.graphs import GraphActivities
from activities.health import HealthActivities
from activities.interceptors import RecordAttempts, ResilientActivities
from activities.mirror import MirrorActivities
from activities.signals import SignalActivities
from activities.work_orders import WorkOrderActivities
from client.readiness import wait_for_dependencies
from core.errors import IntakeError
from core.settings import Settings
from db.engine import engine_from_settings, redact_url
from integrations.factory import build_clients
from telemetry.activity_log import ActivityLog
from telemetry.logs import configure_logging
from telemetry.tracing import setup_tracing, shutdown_tracing
from workflows.approvals import ProposedActionWorkflow, QueueToolCallWorkflow
from workflows.batches import BatchChunkWorkflow, BatchImportWorkflow
from workflows.discussions import CleanupJobsWorkflow, DiscussionWorkflow
from workflows.exports import ExportDrainWorkflow
from workflows.graphs import GraphWorkflow
from workflows.health import HealthCheckWorkflow
from workflows.mirror import PruneMirrorWorkflow
from workflows.signals import IngestSignalsWorkflow, PruneRunLogWorkflow
from workflows.work_orders import SignedDocumentIngestWorkflow, WorkOrderIngestWorkflow

log = logging.getLogger("intake.worker")


@dataclass(frozen=True)
class Pipeline:
    name: str
    workflows: Sequence[type]
    activities: Sequence[type]  # classes constructed with `Deps`


PIPELINES: list[Pipeline] = [
    Pipeline("health", workflows=[HealthCheckWorkflow], activities=[HealthActivities]),
    Pipeline("discussions", workflows=[DiscussionWorkflow, CleanupJobsWorkflow], activities=[DiscussionActivities]),
    Pipeline(
        "work_orders",
        workflows=[WorkOrderIngestWorkflow, SignedDocumentIngestWorkflow],
        activities=[WorkOrderActivities],
    ),
    Pipeline("exports", workflows=[ExportDrainWorkflow], activities=[ExportActivities]),
    Pipeline("signals", workflows=[IngestSignalsWorkflow, PruneRunLogWorkflow], activities=[SignalActivities]),
    Pipeline("approvals", workflows=[ProposedActionWorkflow, QueueToolCallWorkflow], activities=[ApprovalActivities]),
    Pipeline("graphs", workflows=[GraphWorkflow], activities=[GraphActivities]),
    Pipeline("mirror", workflows=[PruneMirrorWorkflow], activities=[MirrorActivities]),
    Pipeline("batches", workflows=[BatchImportWorkflow, BatchChunkWorkflow], activities=[BatchActivities]),
]


def all_workflows() -> list[type]:
    return [wf for pipeline in PIPELINES for wf in pipeline.workflows]


def all_activities(deps: Deps) -> list[Any]:
    """Every `@activity.defn` method of every pipeline's activity classes, bound to `deps`."""
    found: list[Any] = []
    for pipeline in PIPELINES:
        for cls in pipeline.activities:
            instance = cls(deps)
            for name in dir(cls):
                if hasattr(getattr(cls, name), "__temporal_activity_definition"):
                    found.append(getattr(instance, name))
    return found


def workflow_runner() -> SandboxedWorkflowRunner:
    # The contracts (and pydantic under them) are plain models: load them once, outside the
    # sandbox, instead of once per workflow run.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("pydantic", "contracts")
    )


def activity_interceptors(deps: Deps) -> list[Interceptor]:
    """What every activity runs inside: a log line per attempt (outermost, so it times the whole
    attempt), the mirror's attempt records (MIRROR_ATTEMPTS), error translation, heartbeats,
    database-outage waits."""
    resilient = ResilientActivities(deps.engine, outage_timeout=deps.settings.db_outage_timeout)
    if not deps.settings.mirror_attempts:
        return [ActivityLog(), resilient]
    return [ActivityLog(), RecordAttempts(AttemptRecorder(deps.sessions)), resilient]


async def close_interceptors(worker: Worker) -> None:
    """Let the worker's interceptors finish their own work (the attempt records) after it stopped."""
    for interceptor in worker.config().get("interceptors", ()):
        if isinstance(interceptor, RecordAttempts):
            await interceptor.aclose()


def build_worker(client: Client, deps: Deps, *, task_queue: str, **options: Any) -> Worker:
    """The worker of every pipeline, its activities inside `activity_interceptors` (before any
    interceptors in `options`)."""
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=all_workflows(),
        activities=all_activities(deps),
        workflow_runner=workflow_runner(),
        interceptors=[*activity_interceptors(deps), *options.pop("interceptors", ())],
        graceful_shutdown_timeout=options.pop("graceful_shutdown_timeout", timedelta(seconds=10)),
        **options,
    )
    # What is loaded by now (modules, clients, the worker) lives as long as the process: out of
    # the collector's way, so a full collection scans only what the work made, not the whole heap
    # again. And a young collection every 50,000 allocations rather than 700: bulk work (a batch
    # chunk reads thousands of rows, each a few objects, none of them in a cycle) otherwise
    # spends a fifth of its time collecting what it still holds.
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    return worker


async def run(settings: Settings, stop: asyncio.Event) -> None:
    engine = engine_from_settings(settings)
    services = build_clients(settings)
    try:
        waiting = asyncio.ensure_future(wait_for_dependencies(settings, engine=engine))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not waiting.done():
            waiting.cancel()
            log.info("stopped while waiting for PostgreSQL and Temporal")
            return
        client = waiting.result().client
        assert client is not None
        deps = Deps(settings=settings, engine=engine, services=services)
        worker = build_worker(client, deps, task_queue=settings.task_queue)
        log.info(
            "worker %s polling %r on %s (namespace %s, database %s)",
            client.identity,
            settings.task_queue,
            settings.require_temporal_address(),
            settings.temporal_namespace,
            redact_url(settings.require_database_url()),
        )
        async with worker:
            await stop.wait()
            log.info("stopping: finishing running tasks")
        await close_interceptors(worker)
    finally:
        await services.aclose()
        await engine.dispose()


def main() -> None:
    settings = Settings()
    configure_logging(settings, service="intake-worker")
    setup_tracing(settings, service="intake-worker")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(serve())
    except IntakeError as err:  # a dependency that never answered, a bad setting: one line, no traceback
        log.error("worker not started: %s", " ".join(str(err).split()))
        sys.exit(1)
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
