"""Synthetic rows at scale for the dashboard's benchmark and query-plan test (never for a real database).

`seed(engine, ...)` bulk-inserts work items (with their gates, proposed action, run log,
audit entry and, once approved, a Gmail draft), jobs with their discussions, work
orders (with a source, an extraction run and an export job), and, when asked, mirrored runs
(with their steps, attempts, a retry timer and history) and batch imports (with their chunks
and error rows) for `teams` teams, the first
team (`teams[0]`) owning `share` of every kind. Times spread over the last 30 days, so
lists have a real order to page through. Rows go in batches of multi-row INSERTs, one
transaction per batch.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models.batches import Batch, BatchChunk, ErrorRow
from db.models.discussions import Discussion, Job
from db.models.mirror import Execution, ExecutionHistoryEvent, ExecutionStep, JobAttempt, Timer
from db.models.signals import (
    AuditLog,
    GateEvaluation,
    GmailDraft,
    ProposedAction,
    SignalUser,
    WorkflowEvent,
    WorkflowRun,
    WorkItem,
)
from db.models.work_orders import ExportJob, ExtractionRun, WorkOrder, WorkOrderSource, Workspace

BATCH = 2_000
Rows = list[dict[str, Any]]
GATES = ("decision", "time", "relationship", "impact", "watch")
STAGES = ("ingestion", "thread_building", "ai_analysis", "task_creation", "notification")


@dataclass(frozen=True)
class Seeded:
    """Ids a benchmark can open pages of (the first team's)."""

    work_item_id: uuid.UUID
    job_id: uuid.UUID
    discussion_id: uuid.UUID
    work_order_id: uuid.UUID
    # (workflow_id, run_id) of a mirrored run, and a batch, when `mirrored_runs` / `batch_imports` were asked for.
    run: tuple[str, str] | None = None
    batch_id: uuid.UUID | None = None


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def _insert(engine: AsyncEngine, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        async with engine.begin() as connection:
            await connection.execute(insert(model), chunk)


def _team_of(i: int, teams: Sequence[str], share: float, rng: random.Random) -> str:
    return teams[0] if rng.random() < share else teams[1 + i % (len(teams) - 1)]


async def seed(
    engine: AsyncEngine,
    *,
    teams: Sequence[str],
    work_items: int,
    jobs: int,
    work_orders: int,
    share: float = 0.5,
    users_per_team: int = 20,
    workspaces_per_team: int = 5,
    seed_value: int = 7,
    mirrored_runs: int = 0,
    batch_imports: int = 0,
) -> Seeded:
    assert len(teams) >= 2, "the first team is measured, the others are the rest of the tenants"
    rng = random.Random(seed_value)
    now = datetime.now(UTC)

    def when(i: int, total: int) -> datetime:
        return now - timedelta(days=30) * (1 - i / max(total, 1)) - timedelta(seconds=rng.random())

    users = {team: [f"{team}-user-{n}" for n in range(users_per_team)] for team in teams}
    await _insert(
        engine,
        SignalUser,
        [
            {
                "user_id": u,
                "mailbox": f"{u}@example.com",
                "calendar_id": f"{u}@example.com",
                "gate_config": {},
                "team_id": t,
            }
            for t, names in users.items()
            for u in names
        ],
    )

    items: Rows = []
    gates: Rows = []
    actions: Rows = []
    runs: Rows = []
    events: Rows = []
    audits: Rows = []
    drafts: Rows = []
    for i in range(work_items):
        team = _team_of(i, teams, share, rng)
        user = rng.choice(users[team])
        item_id, action_id, run_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        status = rng.choices(("awaiting_approval", "completed", "dismissed"), (4, 5, 1))[0]
        at = when(i, work_items)
        score = rng.randint(0, 100)
        items.append(
            {
                "id": item_id,
                "user_id": user,
                "source": "gmail",
                "source_id": f"m-{i}",
                "actor": f"sender{i % 500}@example.com",
                "summary": f"Message {i} needs an answer",
                "context": "",
                "preview": f"Preview of message {i}",
                "intent": "draft_reply",
                "status": status,
                "importance_tier": "critical" if score >= 80 else "important" if score >= 50 else "later",
                "importance_score": score,
                "content_hash": f"h{i}",
                "occurred_at": at,
                "created_at": at,
                "updated_at": at,
                "completed_at": at if status != "awaiting_approval" else None,
            }
        )
        gates.extend(
            {
                "work_item_id": item_id,
                "gate": gate,
                "passed": rng.random() < 0.4,
                "score": rng.randint(0, 10),
                "reason": f"{gate} reason",
            }
            for gate in GATES
        )
        action_status = {"awaiting_approval": "pending", "completed": "executed", "dismissed": "dismissed"}[status]
        actions.append(
            {
                "id": action_id,
                "work_item_id": item_id,
                "action_type": "draft_reply",
                "status": action_status,
                "payload": {"to": f"sender{i % 500}@example.com", "subject": f"Re: {i}", "body": "Thanks."},
                "created_at": at,
                "updated_at": at,
            }
        )
        runs.append(
            {
                "id": run_id,
                "work_item_id": item_id,
                "phase": "ingest",
                "workflow_id": f"ingest/{user}",
                "created_at": at,
            }
        )
        events.extend(
            {"run_id": run_id, "kind": kind, "created_at": at} for kind in ("signal_received", "action_proposed")
        )
        audits.append(
            {
                "user_id": user,
                "action": "work_item.ingested",
                "target_type": "work_item",
                "target_id": str(item_id),
                "created_at": at,
            }
        )
        if action_status == "executed":
            drafts.append(
                {
                    "action_id": action_id,
                    "provider_draft_id": f"d-{i}",
                    "provider_message_id": f"pm-{i}",
                    "synced_at": at,
                }
            )
    tables: list[tuple[Any, Rows]] = [
        (WorkItem, items),
        (GateEvaluation, gates),
        (ProposedAction, actions),
        (WorkflowRun, runs),
        (WorkflowEvent, events),
        (AuditLog, audits),
        (GmailDraft, drafts),
    ]
    for model, rows in tables:
        await _insert(engine, model, rows)

    discussions: Rows = []
    job_rows: Rows = []
    for i in range(jobs):
        team = _team_of(i, teams, share, rng)
        discussion_id, job_id = uuid.uuid4(), uuid.uuid4()
        status = rng.choices(("completed", "failed", "processing", "pending"), (80, 12, 5, 3))[0]
        at = when(i, jobs)
        discussions.append(
            {
                "id": discussion_id,
                "team_id": team,
                "source_type": "slack",
                "source_thread_id": f"C0BENCH:{i}.000100",
                "title": f"Thread {i}",
                "content": "text",
                "status": status,
                "error": "notion refused" if status == "failed" else None,
                "created_at": at,
                "updated_at": at,
            }
        )
        job_rows.append(
            {
                "id": job_id,
                "team_id": team,
                "source_type": "slack",
                "status": status,
                "stage": "notification" if status == "completed" else rng.choice(STAGES),
                "discussion_id": discussion_id,
                "workflow_id": f"discussion/{team}/{i}",
                "workflow_run_id": str(uuid.uuid4()),
                "error": "notion refused" if status == "failed" else None,
                "error_stack": "Traceback ..." if status == "failed" else None,
                "created_at": at,
                "updated_at": at,
                "completed_at": at if status in ("completed", "failed") else None,
            }
        )
    await _insert(engine, Discussion, discussions)
    await _insert(engine, Job, job_rows)

    spaces = {team: [uuid.uuid4() for _ in range(workspaces_per_team)] for team in teams}
    await _insert(
        engine,
        Workspace,
        [
            {"id": w, "slug": f"{team}-ws-{n}", "name": f"{team} {n}", "team_id": team}
            for team, ids in spaces.items()
            for n, w in enumerate(ids)
        ],
    )
    orders: Rows = []
    sources: Rows = []
    extractions: Rows = []
    exports: Rows = []
    for i in range(work_orders):
        team = _team_of(i, teams, share, rng)
        workspace = rng.choice(spaces[team])
        order_id = uuid.uuid4()
        at = when(i, work_orders)
        status = rng.choices(("DONE", "FAILED", "PENDING"), (90, 5, 5))[0]
        orders.append(
            {
                "id": order_id,
                "workspace_id": workspace,
                "work_order_number": f"WO-{i}",
                "site": f"Site {i % 40}",
                "created_at": at,
                "updated_at": at,
            }
        )
        sources.append(
            {
                "workspace_id": workspace,
                "work_order_id": order_id,
                "source_type": "FILE",
                "file_hash": f"f{i}",
                "filename": f"WO-{i}.pdf",
                "created_at": at,
            }
        )
        extractions.append(
            {
                "workspace_id": workspace,
                "kind": "WORK_ORDER",
                "file_hash": f"f{i}",
                "filename": f"WO-{i}.pdf",
                "outcome": "SUCCEEDED",
                "work_order_id": order_id,
                "workflow_id": f"ingest/{i}",
                "created_at": at,
            }
        )
        exports.append(
            {
                "workspace_id": workspace,
                "kind": "WORK_ORDER",
                "work_order_id": order_id,
                "status": status,
                "attempts": 5 if status == "FAILED" else 1,
                "last_error": "Sheets answered 503" if status == "FAILED" else None,
                "sheet_row": i + 2 if status == "DONE" else None,
                "created_at": at,
                "updated_at": at,
                "completed_at": at if status != "PENDING" else None,
            }
        )
    for model, rows in [
        (WorkOrder, orders),
        (WorkOrderSource, sources),
        (ExtractionRun, extractions),
        (ExportJob, exports),
    ]:
        await _insert(engine, model, rows)

    first = teams[0]
    mine = set(spaces[first])
    run = await _seed_runs(engine, mirrored_runs, teams, share, rng, when)
    batch_id = await _seed_batches(engine, batch_imports, spaces, teams, share, rng, when)
    return Seeded(
        run=run,
        batch_id=batch_id,
        work_item_id=next(r["id"] for r in reversed(items) if r["user_id"].startswith(f"{first}-user-")),
        job_id=next(r["id"] for r in reversed(job_rows) if r["team_id"] == first and r["status"] == "failed"),
        discussion_id=next(r["discussion_id"] for r in reversed(job_rows) if r["team_id"] == first),
        work_order_id=next(o["id"] for o in reversed(orders) if o["workspace_id"] in mine),
    )


async def _seed_runs(
    engine: AsyncEngine, count: int, teams: Sequence[str], share: float, rng: random.Random, when: Any
) -> tuple[str, str] | None:
    """`count` mirrored discussion runs, each of 3 steps (the second retried once), their attempts,
    the retry's timer and 8 history events; the first team's last run."""
    executions: Rows = []
    steps: Rows = []
    attempts: Rows = []
    timers: Rows = []
    history: Rows = []
    last: tuple[str, str] | None = None
    for i in range(count):
        team = _team_of(i, teams, share, rng)
        key = {"workflow_id": f"discussion/{team}/slack/C0:{i}", "run_id": str(uuid.uuid4())}
        at = when(i, count)
        status = rng.choices(("completed", "failed", "running"), (85, 10, 5))[0]
        executions.append(
            {
                **key,
                "workflow_type": "DiscussionWorkflow",
                "task_queue": "intake",
                "status": status,
                "temporal_status": status,
                "start_time": at,
                "close_time": at + timedelta(seconds=5) if status != "running" else None,
                "team_id": team,
                "error": "Notion refused the token" if status == "failed" else None,
                "history_length": 8,
            }
        )
        for n, name in enumerate(("discussion_open", "discussion_build_thread", "discussion_analyze")):
            tries = 2 if n == 1 else 1
            steps.append(
                {
                    **key,
                    "activity_id": str(n + 1),
                    "name": name,
                    "local": n == 0,
                    "status": "completed",
                    "attempts": tries,
                    "scheduled_at": at + timedelta(seconds=n),
                    "started_at": at + timedelta(seconds=n),
                    "finished_at": at + timedelta(seconds=n + 1),
                    "last_error": "Slack answered 500" if tries > 1 else None,
                }
            )
            for attempt in range(1, tries + 1):
                attempts.append(
                    {
                        **key,
                        "activity_id": str(n + 1),
                        "attempt": attempt,
                        "activity_type": name,
                        "workflow_type": "DiscussionWorkflow",
                        "local": n == 0,
                        "worker_identity": "seed@host",
                        "started_at": at + timedelta(seconds=n, milliseconds=100 * attempt),
                        "ended_at": at + timedelta(seconds=n, milliseconds=100 * attempt + 50),
                        "outcome": "completed" if attempt == tries else "failed",
                        "error": None if attempt == tries else "Slack answered 500",
                    }
                )
        timers.append(
            {
                **key,
                "timer_id": "2",
                "kind": "retry",
                "activity_id": "2",
                "started_at": at + timedelta(seconds=1),
                "fire_at": at + timedelta(seconds=1.2),
                "fired_at": at + timedelta(seconds=1.2),
                "cancelled": False,
            }
        )
        history.extend(
            {**key, "event_id": e, "event_time": at + timedelta(seconds=e / 2), "kind": "event", "summary": "seeded"}
            for e in range(1, 9)
        )
        if team == teams[0]:
            last = (key["workflow_id"], key["run_id"])
    for model, rows in [
        (Execution, executions),
        (ExecutionStep, steps),
        (JobAttempt, attempts),
        (Timer, timers),
        (ExecutionHistoryEvent, history),
    ]:
        await _insert(engine, model, rows)
    return last


async def _seed_batches(
    engine: AsyncEngine,
    count: int,
    spaces: dict[str, list[uuid.UUID]],
    teams: Sequence[str],
    share: float,
    rng: random.Random,
    when: Any,
) -> uuid.UUID | None:
    """`count` finished batches of 100 rows in 10 chunks, 3 of the rows refused; the first team's last batch."""
    batch_rows: Rows = []
    chunks: Rows = []
    errors: Rows = []
    last: uuid.UUID | None = None
    for i in range(count):
        team = _team_of(i, teams, share, rng)
        batch_id = uuid.uuid4()
        at = when(i, count)
        batch_rows.append(
            {
                "id": batch_id,
                "workspace_id": rng.choice(spaces[team]),
                "kind": "work-orders",
                "source": f"orders-{i}.csv",
                "file_hash": f"b{i}",
                "file_size": 10,
                "raw_data": b"h\n",
                "columns": ["work_order_number"],
                "body_offset": 2,
                "chunk_size": 10,
                "status": "COMPLETED",
                "row_count": 100,
                "chunk_count": 10,
                "processed_count": 97,
                "error_count": 3,
                "created_count": 97,
                "created_at": at,
                "updated_at": at,
                "completed_at": at + timedelta(seconds=10),
            }
        )
        chunks.extend(
            {
                "batch_id": batch_id,
                "chunk_index": c,
                "first_row": c * 10 + 1,
                "last_row": c * 10 + 10,
                "byte_start": 2,
                "byte_end": 2,
                "status": "COMPLETED",
                "processed_count": 10 - (c < 3),
                "error_count": int(c < 3),
                "created_count": 10 - (c < 3),
                "created_at": at,
            }
            for c in range(10)
        )
        errors.extend(
            {
                "batch_id": batch_id,
                "row_number": c * 10 + 1,
                "chunk_index": c,
                "raw_row": "",
                "column_name": "work_order_number",
                "reason": "no work order number",
                "created_at": at,
            }
            for c in range(3)
        )
        if team == teams[0]:
            last = batch_id
    for model, rows in [(Batch, batch_rows), (BatchChunk, chunks), (ErrorRow, errors)]:
        await _insert(engine, model, rows)
    return last


async def analyze(engine: AsyncEngine) -> None:
    """Refresh the planner's statistics after a bulk load (autovacuum would, a little later)."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE")
