"""Signal ingestion's storage: users, ingestion state, and the per-signal write.

The per-signal write is the hot path of ingestion. It is ONE statement: data-modifying CTEs
that upsert the work item, replace its gate evaluations, upsert its proposed action, and write
the run log and the audit log. It runs in a transaction per signal, so the five writes
commit together or not at all; as one statement it costs a single round trip (plus
BEGIN/COMMIT), with a fixed shape: built with Core, compiled once per engine (db/compiled.py:
no per-call SQLAlchemy compilation or result wrapping) and prepared once per connection by
asyncpg. Gates and events travel as JSON arrays unpacked by `jsonb_to_recordset`, so any
number of them keeps the one statement.

Two choices that differ from a literal "delete + insert":
- an unchanged signal (same content hash) matches no row in the upsert, so nothing else is
  written either: re-ingestion changes no counts, not even of the run or audit log;
- the proposed action is upserted in place while it is `pending` (same id, new type and
  payload), and left alone once executed or dismissed: an id the user is looking at stays
  valid, and an approved action (with its draft or event) is never replaced by re-ingestion.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    Select,
    SmallInteger,
    Text,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import Executable

from db.base import table_of
from db.compiled import CompiledStatement
from db.models.signals import (
    AuditLog,
    GateEvaluation,
    ProposedAction,
    WorkflowEvent,
    WorkflowRun,
    WorkItem,
)
from db.stores import conflicts_as_domain_errors

# Work item columns a re-ingested, changed signal overwrites (status and timestamps stay).
_CONTENT_COLUMNS = (
    "thread_id",
    "actor",
    "summary",
    "context",
    "preview",
    "intent",
    "importance_tier",
    "importance_score",
    "occurred_at",
    "content_hash",
)


@dataclass(frozen=True)
class SignalRecord:
    """Everything stored for one signal; gates are {gate, passed, score, reason} dicts,
    events {kind, payload} dicts."""

    user_id: str
    source: str
    source_id: str
    actor: str
    summary: str
    context: str
    preview: str
    intent: str
    importance_tier: str
    importance_score: int
    content_hash: str
    action_type: str
    action_payload: dict[str, Any]
    gates: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    thread_id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class StoredSignal:
    """What the write did: the work item, whether it is new, and its pending action (if any)."""

    work_item_id: uuid.UUID
    created: bool
    action_id: uuid.UUID | None


def _persist_statement() -> Select[Any]:
    # Tables, not ORM entities: a plain Core statement skips the ORM's execution path.
    items, gate_rows, actions = table_of(WorkItem), table_of(GateEvaluation), table_of(ProposedAction)
    runs, run_events_table, audit_logs = table_of(WorkflowRun), table_of(WorkflowEvent), table_of(AuditLog)
    item_values: dict[str, BindParameter[Any]] = {
        name: bindparam(name) for name in ("user_id", "source", "source_id", *_CONTENT_COLUMNS)
    }
    upsert = insert(items).values(**item_values)
    item = (
        upsert.on_conflict_do_update(
            index_elements=[items.c.user_id, items.c.source, items.c.source_id],
            set_={**{name: upsert.excluded[name] for name in _CONTENT_COLUMNS}, "updated_at": func.now()},
            where=items.c.content_hash.is_distinct_from(upsert.excluded.content_hash),
        )
        .returning(items.c.id, literal_column("xmax = 0", Boolean).label("created"))
        .cte("item")
    )
    old_gates = delete(gate_rows).where(gate_rows.c.work_item_id.in_(select(item.c.id))).cte("old_gates")
    gates = (
        func.jsonb_to_recordset(bindparam("gates", type_=JSONB))
        .table_valued(
            column("gate", Text), column("passed", Boolean), column("score", SmallInteger), column("reason", Text)
        )
        .render_derived(name="g", with_types=True)
    )
    new_gates = (
        insert(gate_rows)
        .from_select(
            ["work_item_id", "gate", "passed", "score", "reason"],
            select(item.c.id, gates.c.gate, gates.c.passed, gates.c.score, gates.c.reason).select_from(
                item.join(gates, true())
            ),
        )
        .cte("new_gates")
    )
    action_insert = insert(actions).from_select(
        ["work_item_id", "action_type", "payload"],
        select(item.c.id, bindparam("action_type", type_=Text), bindparam("action_payload", type_=JSONB)),
    )
    action = (
        action_insert.on_conflict_do_update(
            index_elements=[actions.c.work_item_id],
            set_={
                "action_type": action_insert.excluded.action_type,
                "payload": action_insert.excluded.payload,
                "updated_at": func.now(),
            },
            where=actions.c.status == "pending",
        )
        .returning(actions.c.id)
        .cte("action")
    )
    run = (
        insert(runs)
        .from_select(
            ["work_item_id", "phase", "workflow_id", "workflow_run_id"],
            select(
                item.c.id,
                literal("ingest"),
                bindparam("workflow_id", type_=Text),
                bindparam("workflow_run_id", type_=Text),
            ),
        )
        .returning(runs.c.id)
        .cte("run")
    )
    events = (
        func.jsonb_to_recordset(bindparam("events", type_=JSONB))
        .table_valued(column("kind", Text), column("payload", JSONB))
        .render_derived(name="e", with_types=True)
    )
    run_events = (
        insert(run_events_table)
        .from_select(
            ["run_id", "kind", "payload"],
            select(run.c.id, events.c.kind, events.c.payload).select_from(run.join(events, true())),
        )
        .cte("run_events")
    )
    audit = (
        insert(audit_logs)
        .from_select(
            ["user_id", "action", "target_type", "target_id", "payload"],
            select(
                bindparam("user_id", type_=Text),
                case((item.c.created, "work_item.ingested"), else_="work_item.updated"),
                literal("work_item"),
                cast(item.c.id, Text),
                bindparam("audit_payload", type_=JSONB),
            ),
        )
        .cte("audit")
    )
    return (
        select(item.c.id, item.c.created, action.c.id.label("action_id"))
        .select_from(item.outerjoin(action, true()))
        .add_cte(old_gates, new_gates, run_events, audit)
    )


# Compiled once per engine's dialect (db/compiled.py): no per-call SQLAlchemy compilation or result wrapping.
_PERSIST = CompiledStatement(_persist_statement())


class SignalStore:
    """The per-signal writes of ingestion (and of the benchmark), on `engine`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def persist_all(
        self,
        records: Sequence[SignalRecord],
        *,
        workflow_id: str | None = None,
        workflow_run_id: str | None = None,
        with_last: Executable | None = None,
    ) -> list[StoredSignal | None]:
        """Store each record in a transaction of its own; None for a record stored unchanged already.

        `with_last` (the cursor move) runs in the last record's transaction, or alone when there is
        no record. Records stored before a failure stay committed; the failure is raised.

        The loop runs on one connection inside one greenlet (`run_sync`): an async call per
        statement would cost more than the statement itself (see bench/ingest.py).
        """
        with conflicts_as_domain_errors():
            async with self._engine.connect() as connection:
                return await connection.run_sync(self._persist_all, records, workflow_id, workflow_run_id, with_last)

    def _persist_all(
        self,
        connection: Connection,
        records: Sequence[SignalRecord],
        workflow_id: str | None,
        workflow_run_id: str | None,
        with_last: Executable | None,
    ) -> list[StoredSignal | None]:
        stored: list[StoredSignal | None] = []
        for index, record in enumerate(records):
            with connection.begin():
                row = _PERSIST.first(connection, self._params(record, workflow_id, workflow_run_id))
                if with_last is not None and index == len(records) - 1:
                    connection.execute(with_last)
            if row is None:
                stored.append(None)
            else:
                work_item_id, created, action_id = row  # the persist statement's columns, in order
                stored.append(StoredSignal(work_item_id=work_item_id, created=created, action_id=action_id))
        if with_last is not None and not records:
            with connection.begin():
                connection.execute(with_last)
        return stored

    @staticmethod
    def _params(record: SignalRecord, workflow_id: str | None, workflow_run_id: str | None) -> dict[str, Any]:
        params = {name: getattr(record, name) for name in ("user_id", "source", "source_id", *_CONTENT_COLUMNS)}
        params |= {
            "gates": record.gates,
            "action_type": record.action_type,
            "action_payload": record.action_payload,
            "workflow_id": workflow_id,
            "workflow_run_id": workflow_run_id,
            "events": record.events,
            "audit_payload": {
                "source": record.source,
                "source_id": record.source_id,
                "intent": record.intent,
                "importance_tier": record.importance_tier,
            },
        }
        return params
