"""Benchmark: the per-signal write of ingestion against a raw asyncpg loop doing the same.

    .venv/bin/python -m bench.ingest --n 10000 [--via execute|lambda]

Starts its own embedded PostgreSQL (fast settings, 127.0.0.1, deleted at the end) and
migrates it, registers `--users` users, and makes N realistic signals spread over them (the
gates run on each beforehand; that is not timed). Then it stores them, one transaction per
signal, twice over distinct signals:

- through `db.stores.signals.SignalStore.persist_all`, in chunks: exactly the code the
  ingestion activity runs (SQLAlchemy Core, asyncpg underneath);
- through a raw asyncpg loop: the same statement written by hand, in a transaction per
  signal on one connection: the limit we measure ourselves against.

The two run chunk by chunk, alternating, so both meet the same table sizes and machine load.
Prints signals/s for both, the same figure for re-ingesting unchanged signals (which write
nothing), and last `ratio=<ours / raw>`. `--via` runs db/compiled.py's statements through
SQLAlchemy's own path instead (bench/sqlalchemy_path.py), to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from activities.gates import GateConfig, Signal, UserRules, assess
from activities.signals import CHUNK, signal_record
from bench import sqlalchemy_path
from db import admin
from db.engine import create_engine, create_sessionmaker
from db.models.signals import DEFAULT_GATE_CONFIG, WorkItem
from db.repositories.signals import SignalUserRepository
from db.repository import Repository
from db.stores.signals import SignalRecord, SignalStore
from db.uow import unit_of_work
from stack.postgres import EmbeddedPostgres

RAW_SQL = """
WITH item AS (
  INSERT INTO work_items (user_id, source, source_id, thread_id, actor, summary, context, preview, intent,
                          importance_tier, importance_score, occurred_at, content_hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (user_id, source, source_id) DO UPDATE SET
    thread_id = excluded.thread_id, actor = excluded.actor, summary = excluded.summary,
    context = excluded.context, preview = excluded.preview, intent = excluded.intent,
    importance_tier = excluded.importance_tier, importance_score = excluded.importance_score,
    occurred_at = excluded.occurred_at, content_hash = excluded.content_hash, updated_at = now()
  WHERE work_items.content_hash IS DISTINCT FROM excluded.content_hash
  RETURNING id, xmax = 0 AS created
), old_gates AS (
  DELETE FROM gate_evaluations WHERE work_item_id IN (SELECT id FROM item)
), new_gates AS (
  INSERT INTO gate_evaluations (work_item_id, gate, passed, score, reason)
  SELECT item.id, g.gate, g.passed, g.score, g.reason
  FROM item JOIN jsonb_to_recordset($14) AS g(gate text, passed boolean, score smallint, reason text) ON true
), action AS (
  INSERT INTO proposed_actions (work_item_id, action_type, payload)
  SELECT id, $15, $16 FROM item
  ON CONFLICT (work_item_id) DO UPDATE SET action_type = excluded.action_type, payload = excluded.payload,
    updated_at = now()
  WHERE proposed_actions.status = 'pending'
  RETURNING id
), run AS (
  INSERT INTO workflow_runs (work_item_id, phase, workflow_id, workflow_run_id)
  SELECT id, 'ingest', $17, $18 FROM item RETURNING id
), run_events AS (
  INSERT INTO workflow_events (run_id, kind, payload)
  SELECT run.id, e.kind, e.payload FROM run JOIN jsonb_to_recordset($19) AS e(kind text, payload jsonb) ON true
), audit AS (
  INSERT INTO audit_logs (user_id, action, target_type, target_id, payload)
  SELECT $1, CASE WHEN item.created THEN 'work_item.ingested' ELSE 'work_item.updated' END, 'work_item',
         item.id::text, $20 FROM item
)
SELECT item.id, item.created, action.id AS action_id FROM item LEFT JOIN action ON true
"""

SUBJECTS = [
    (
        "Priya Shah <priya@vendor.example>",
        "Decision needed: contract renewal {n}",
        "Can you confirm whether we renew? We need a decision before {date}.",
    ),
    (
        "Tom Reyes <tom@example.com>",
        "Can we meet about item {n}?",
        "Could we schedule 30 minutes tomorrow to go through it?",
    ),
    (
        "Sam Lee <sam@customer.example>",
        "Refund request for order #{n}",
        "I was charged twice for order #{n}. Please refund the duplicate payment.",
    ),
    ("Ops <ops@example.com>", "Outage follow-up {n}", "Should we post the outage report today?"),
]


def make_records(n: int, users: list[str], tag: str) -> list[SignalRecord]:
    """N signals needing action, round robin over the users, each with its gates and action."""
    now = datetime.now(UTC)
    rules = UserRules(
        mailbox="user@example.com",
        watch_keywords=["renew"],
        sender_scores={"@vendor.example": 0.8},
        config=GateConfig.model_validate(DEFAULT_GATE_CONFIG),
    )
    records = []
    for i in range(n):
        sender, subject, body = SUBJECTS[i % len(SUBJECTS)]
        signal = Signal(
            source="gmail",
            source_id=f"{tag}-{i:07d}",
            thread_id=f"t-{tag}-{i}",
            actor=sender,
            title=subject.format(n=i),
            body=body.format(n=i, date=(now + timedelta(days=1)).date()),
            occurred_at=now - timedelta(minutes=i),
        )
        assessment = assess(signal, rules, now)
        assert assessment.needs_action
        records.append(signal_record(users[i % len(users)], signal, assessment))
    return records


def raw_args(record: SignalRecord) -> tuple[object, ...]:
    return (
        record.user_id,
        record.source,
        record.source_id,
        record.thread_id,
        record.actor,
        record.summary,
        record.context,
        record.preview,
        record.intent,
        record.importance_tier,
        record.importance_score,
        record.occurred_at,
        record.content_hash,
        record.gates,
        record.action_type,
        record.action_payload,
        "bench",
        "bench-run",
        record.events,
        {
            "source": record.source,
            "source_id": record.source_id,
            "intent": record.intent,
            "importance_tier": record.importance_tier,
        },
    )


def report(label: str, count: int, seconds: float) -> None:
    print(f"{label:<44} {count:>7} signals in {seconds:7.2f} s = {count / seconds:9.0f} signals/s", flush=True)


async def run(n: int, user_count: int, via: str) -> None:
    sqlalchemy_path.use(via)
    root = Path(tempfile.mkdtemp(prefix="intake-bench-ingest-"))
    postgres = EmbeddedPostgres(root / "pg", fast=True)
    try:
        url = postgres.start()
        await admin.migrate_async(url)
        engine = create_engine(url, pool_size=2)
        sessions = create_sessionmaker(engine)
        users = [f"bench-user-{i:02d}" for i in range(user_count)]
        async with unit_of_work(sessions) as session:
            for user in users:
                await SignalUserRepository().ensure(
                    session=session,
                    user_id=user,
                    mailbox=f"{user}@example.com",
                    calendar_id=f"{user}@example.com",
                    gate_config=DEFAULT_GATE_CONFIG,
                )
        warm = max(50, n // 50)
        ours, raw, warm_ours, warm_raw = (
            make_records(count, users, tag)
            for count, tag in ((n, "ours"), (n, "raw"), (warm, "warm-ours"), (warm, "warm-raw"))
        )
        store = SignalStore(engine)

        async def through_db_layer(records: list[SignalRecord]) -> None:
            await store.persist_all(records, workflow_id="bench", workflow_run_id="bench-run")

        connection = await asyncpg.connect(url)
        for codec in ("json", "jsonb"):
            await connection.set_type_codec(codec, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

        async def through_raw_asyncpg(records: list[SignalRecord]) -> None:
            for record in records:
                async with connection.transaction():
                    await connection.fetchrow(RAW_SQL, *raw_args(record))

        print(
            f"{n} signals over {user_count} users, one transaction per signal; PostgreSQL at 127.0.0.1 (fsync off); "
            f"statements via {via}"
        )
        await through_db_layer(warm_ours)
        await through_raw_asyncpg(warm_raw)
        # Chunk by chunk, alternating: both see the same table sizes and the same machine load.
        elapsed = {"raw": 0.0, "ours": 0.0}
        for start in range(0, n, CHUNK):
            for name, write, records in (("raw", through_raw_asyncpg, raw), ("ours", through_db_layer, ours)):
                started = time.perf_counter()
                await write(records[start : start + CHUNK])
                elapsed[name] += time.perf_counter() - started
        raw_rate, our_rate = n / elapsed["raw"], n / elapsed["ours"]
        report("raw asyncpg loop (the limit)", n, elapsed["raw"])
        report("db/ SignalStore.persist_all, in chunks", n, elapsed["ours"])
        started = time.perf_counter()
        for start in range(0, n, CHUNK):
            await through_db_layer(ours[start : start + CHUNK])
        report("db/ re-ingesting the same signals (no-op)", n, time.perf_counter() - started)
        async with sessions() as session:
            rows = await Repository(WorkItem).count(session=session)
        assert rows == 2 * (n + warm), f"expected {2 * (n + warm)} work items, found {rows}"
        await connection.close()
        print(f"SQLAlchemy compiled cache: {len(engine.sync_engine._compiled_cache or {})} entries")
        await engine.dispose()
        print(f"ratio={our_rate / raw_rate:.2f}")
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="signals to store (default 10,000)")
    parser.add_argument("--users", type=int, default=20, help="users they are spread over (default 20)")
    parser.add_argument(
        "--via",
        choices=sqlalchemy_path.VIAS,
        default="cursor",
        help="how db/compiled.py's statements run (default: as they are)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.n, args.users, args.via))


if __name__ == "__main__":
    main()
