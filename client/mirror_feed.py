"""The live mirror feed (`intake mirror run`), the rebuild and the status, over Temporal's
visibility API and history.

How it is fed, and why this way. The mirror polls Temporal's visibility (`list_workflows`)
from a process of its own, with its position persisted in Postgres (`mirror_positions`): runs
closed after the position's close watermark are new; the history of each is fetched, projected
(client/mirror_projection.py, the same projection the rebuild uses) and upserted, and then the
watermark moves to the newest close it mirrored. The pipelines' own workflows are untouched
(no extra activity, no extra history event), and the feed adds no work to their path but
visibility reads and history reads, which the server answers from its own store. A feed that
runs as a Temporal workflow of its own would put its polls, results and timers into history,
and need continue-as-new to stay small: more server work per mirrored run for nothing a
process of ours cannot do.

- Each tick (every MIRROR_POLL_INTERVAL, 0.25 s): runs closed after the watermark. Cheap: a
  query bounded by the watermark, so it lists only what is new.
- Every `rescan_every` seconds, and first thing after a (re)start: runs closed within
  `overlap` before the watermark, because visibility is written a little after a run closes
  and a run may show up behind a newer one. Runs the mirror has final are skipped.
- Every `paused_every` seconds (1 s): the paused runs (usually none, so a cheap query). A run
  newly paused gets its executions row from visibility alone at once; one the mirror has paused
  that is no longer listed (resumed, or closed) is projected from its history.
- Every `open_every` seconds (5 s): the open runs. A run not seen yet gets its row from
  visibility; one whose history grew (its length in visibility) is projected again, so running
  steps and waits show up while a run is open; one open here but no longer listed is projected.
  (Listing and projecting every open run each second cost the pipelines throughput: the dev
  server answers visibility queries from the store that also runs the workflows.)

Restarts: the watermark is written in the same transaction as the rows it covers, and the
first tick after a start scans from the watermark minus the overlap; every write is an
idempotent upsert, so a run seen twice is one row (no duplicates), and nothing closed after
the stored watermark is missed (no gaps). The dev server keeps closed runs 24 hours: a feed
down for less than that catches up on its first ticks.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client

from client.mirror_projection import RecordedAttempt, RunRows, execution_from_visibility, project
from core.settings import Settings
from core.temporal import connect
from db.availability import database_answers
from db.engine import create_sessionmaker, engine_from_settings, redact_url
from db.repositories.mirror import MirrorRepository, RunKey
from db.uow import unit_of_work

log = logging.getLogger("intake.mirror")

LIVE = "live"  # the position's name
# Runs mirrored per transaction.
BATCH = 100


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _and(scope: str | None, query: str) -> str:
    return f"({scope}) AND ({query})" if scope else query


@dataclass(frozen=True)
class Listed:
    """A run as visibility lists it (read raw: the SDK's status enum may lack newer statuses,
    such as paused)."""

    workflow_id: str
    run_id: str
    status: int
    close_time: datetime | None
    history_length: int
    info: WorkflowExecutionInfo

    @property
    def paused(self) -> bool:
        return self.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_PAUSED


async def list_runs(client: Client, query: str | None, *, page_size: int = 1000) -> dict[RunKey, Listed]:
    """Every run the visibility query matches, by (workflow id, run id)."""
    found: dict[RunKey, Listed] = {}
    token = b""
    while True:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace, query=query or "", page_size=page_size, next_page_token=token
            )
        )
        for info in page.executions:
            key = (info.execution.workflow_id, info.execution.run_id)
            found[key] = Listed(
                workflow_id=key[0],
                run_id=key[1],
                status=info.status,
                close_time=info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None,
                history_length=info.history_length,
                info=info,
            )
        token = page.next_page_token
        if not token:
            return found


@dataclass
class FeedStats:
    ticks: int = 0
    mirrored: int = 0
    errors: int = 0


@dataclass
class MirrorFeed:
    """Keeps the mirror current; `scope` (a visibility query) limits it to some runs."""

    client: Client
    sessions: async_sessionmaker[AsyncSession]
    scope: str | None = None
    name: str = LIVE
    interval: float = 0.25
    overlap: timedelta = timedelta(seconds=10)
    rescan_every: float = 5.0
    paused_every: float = 1.0
    open_every: float = 5.0
    concurrency: int = 8
    stats: FeedStats = field(default_factory=FeedStats)
    _repo: MirrorRepository = field(default_factory=MirrorRepository)
    _next_rescan: float = 0.0
    _next_paused: float = 0.0
    _next_open: float = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; an error is logged and the next tick tries again."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as err:  # the next tick starts over from the stored position
                self.stats.errors += 1
                log.warning("mirror tick failed (%s: %s); trying again", type(err).__name__, err)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """One round; returns the runs mirrored."""
        self.stats.ticks += 1
        async with self.sessions() as session:
            position = await self._repo.position(self.name, session=session)
        watermark = position.close_watermark if position is not None else None
        now = time.monotonic()
        if watermark is None:
            query = "CloseTime > '1970-01-01T00:00:00Z'"
        elif now >= self._next_rescan:
            query = f"CloseTime >= '{_iso(watermark - self.overlap)}'"
            self._next_rescan = now + self.rescan_every
        else:
            query = f"CloseTime > '{_iso(watermark)}'"
        closed = await self._list(query)
        mirrored = 0
        if closed:
            async with self.sessions() as session:
                final = await self._repo.final_runs(list(closed), session=session)
            todo = [key for key in closed if key not in final]
            mirrored += await self.mirror(
                todo, watermark=max(e.close_time for e in closed.values() if e.close_time is not None)
            )
        if now >= self._next_paused:
            self._next_paused = now + self.paused_every
            mirrored += await self._paused_runs()
        if now >= self._next_open:
            self._next_open = now + self.open_every
            mirrored += await self._open_runs()
        self.stats.mirrored += mirrored
        return mirrored

    async def _list(self, query: str) -> dict[RunKey, Listed]:
        return await list_runs(self.client, _and(self.scope, query))

    async def _paused_runs(self) -> int:
        """Pauses and resumes: runs visibility lists as paused, against those the mirror has paused."""
        listed = await self._list("ExecutionStatus = 'Paused'")
        async with self.sessions() as session:
            known = await self._repo.history_lengths(list(listed), session=session)
            were_paused = await self._repo.open_runs(session=session, status="paused")
        paused = [key for key in listed if known.get(key, (0, ""))[1] != "paused"]
        if paused:
            async with unit_of_work(self.sessions) as session:
                await self._repo.upsert_runs(
                    session=session,
                    executions=[execution_from_visibility(listed[key].info) for key in paused],
                    steps=[],
                    timers=[],
                    history=[],
                )
        # Paused here, no longer in Temporal: resumed (or closed): its history says which.
        return len(paused) + await self.mirror([key for key in were_paused if key not in listed])

    async def _open_runs(self) -> int:
        """Open runs: new ones get their row from visibility, those whose history grew are
        projected again, and runs open here but no longer in Temporal's list are projected
        (closed while the feed looked elsewhere)."""
        listed = await self._list("ExecutionStatus = 'Running' OR ExecutionStatus = 'Paused'")
        async with self.sessions() as session:
            known = await self._repo.history_lengths(list(listed), session=session)
            stale = [key for key in await self._repo.open_runs(session=session) if key not in listed]
        fresh = [key for key in listed if key not in known]
        if fresh:
            async with unit_of_work(self.sessions) as session:
                await self._repo.upsert_runs(
                    session=session,
                    executions=[execution_from_visibility(listed[key].info) for key in fresh],
                    steps=[],
                    timers=[],
                    history=[],
                )
        grown = [key for key, run in listed.items() if key in known and known[key][0] != run.history_length]
        return len(fresh) + await self.mirror([*grown, *stale])

    async def mirror(self, keys: Sequence[RunKey], *, watermark: datetime | None = None) -> int:
        """Fetch, project and write `keys`, BATCH runs per transaction; the last one moves the
        watermark to `watermark` (only when every run was written)."""
        done = 0
        for start in range(0, len(keys), BATCH) or [0]:
            batch = list(keys[start : start + BATCH])
            rows = await project_runs(self.client, self.sessions, batch, concurrency=self.concurrency)
            last = start + BATCH >= len(keys)
            async with unit_of_work(self.sessions) as session:
                await write_runs(self._repo, rows, session=session)
                if last and watermark is not None:
                    await self._repo.advance(self.name, watermark=watermark, mirrored=len(rows), session=session)
                elif rows:
                    await self._repo.advance(self.name, watermark=None, mirrored=len(rows), session=session)
            done += len(rows)
        return done


async def project_runs(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    keys: Sequence[RunKey],
    *,
    concurrency: int = 8,
) -> list[RunRows]:
    """The projected rows of each run in `keys` (its history from Temporal, its attempts from here)."""
    if not keys:
        return []
    async with sessions() as session:
        recorded = await MirrorRepository().attempts_of(list(keys), session=session)
    gate = asyncio.Semaphore(concurrency)

    async def one(key: RunKey) -> RunRows:
        async with gate:
            history = await client.get_workflow_handle(key[0], run_id=key[1]).fetch_history()
        attempts = [
            RecordedAttempt(a.activity_id, a.attempt, a.outcome, a.started_at, a.ended_at)
            for a in recorded.get(key, [])
        ]
        return project(key[0], key[1], history.events, attempts)

    return list(await asyncio.gather(*(one(key) for key in keys)))


async def write_runs(repo: MirrorRepository, rows: Sequence[RunRows], *, session: AsyncSession) -> None:
    await repo.upsert_runs(
        session=session,
        executions=[r.execution for r in rows],
        steps=[s for r in rows for s in r.steps],
        timers=[t for r in rows for t in r.timers],
        history=[h for r in rows for h in r.history],
    )
    await repo.settle_attempts([(r.execution["workflow_id"], r.execution["run_id"]) for r in rows], session=session)


# -- rebuild ----------------------------------------------------------------------------------


@dataclass
class TableDiff:
    missing: int = 0  # rows the rebuild made that the live mirror lacked
    extra: int = 0  # rows the live mirror had that history does not make
    changed: int = 0  # rows whose values differed

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.changed


@dataclass
class RebuildResult:
    runs: int
    seconds: float
    tables: dict[str, TableDiff]

    @property
    def differed(self) -> int:
        return sum(diff.total for diff in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
            "runs_per_second": round(self.runs / self.seconds, 1) if self.seconds else None,
            "differed": self.differed,
            "tables": {name: vars(diff) for name, diff in self.tables.items()},
        }


async def rebuild(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    since: datetime | None = None,
    scope: str | None = None,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Recompute executions, steps, timers and history from Temporal (runs started since
    `since`), replace them in the mirror, and say what differed from what it had. Attempts stay."""
    started = time.perf_counter()
    repo = MirrorRepository()
    query = f"StartTime >= '{_iso(since)}'" if since is not None else ""
    keys = list(await list_runs(client, _and(scope, query) if query else scope))
    if progress is not None:
        progress(0, len(keys))
    rows: list[RunRows] = []
    for start in range(0, len(keys), BATCH):
        rows += await project_runs(client, sessions, keys[start : start + BATCH], concurrency=concurrency)
        if progress is not None:
            progress(len(rows), len(keys))
    async with unit_of_work(sessions) as session:
        before = await repo.snapshot(session=session, since=since)
        await repo.delete_projected(session=session, since=since)
        for start in range(0, len(rows), BATCH):
            await write_runs(repo, rows[start : start + BATCH], session=session)
        after = await repo.snapshot(session=session, since=since)
    tables: dict[str, TableDiff] = {}
    for name, rebuilt in after.items():
        live = before.get(name, {})
        tables[name] = TableDiff(
            missing=sum(1 for key in rebuilt if key not in live),
            extra=sum(1 for key in live if key not in rebuilt),
            changed=sum(1 for key, value in rebuilt.items() if key in live and live[key] != value),
        )
    return RebuildResult(runs=len(keys), seconds=time.perf_counter() - started, tables=tables)


# -- status -----------------------------------------------------------------------------------


async def status(
    client: Client, sessions: async_sessionmaker[AsyncSession], *, scope: str | None = None
) -> dict[str, Any]:
    """Where the live feed is: its watermark, when it last moved, how many runs Temporal closed
    after it, the lag of recently closed runs (p50 / p99 seconds), and the rows per table."""
    repo = MirrorRepository()
    now = datetime.now(UTC)
    async with sessions() as session:
        position = await repo.position(LIVE, session=session)
        lags = sorted(await repo.lag_seconds(session=session, since=now - timedelta(minutes=10)))
        counts = await repo.counts(session=session)
    watermark = position.close_watermark if position is not None else None
    behind_query = f"CloseTime > '{_iso(watermark)}'" if watermark else "CloseTime > '1970-01-01T00:00:00Z'"
    behind = (await client.count_workflows(_and(scope, behind_query))).count
    return {
        "close_watermark": watermark.isoformat() if watermark else None,
        "watermark_age_seconds": round((now - watermark).total_seconds(), 3) if watermark else None,
        "position_updated_at": position.updated_at.isoformat() if position is not None else None,
        "runs_mirrored": position.runs_mirrored if position is not None else 0,
        "closed_runs_not_mirrored": behind,
        "lag_p50_seconds": _quantile(lags, 0.50),
        "lag_p99_seconds": _quantile(lags, 0.99),
        "rows": counts,
    }


async def recent_lag_p99(sessions: async_sessionmaker[AsyncSession]) -> float | None:
    """The p99 lag (seconds from a run's close to its final row) of runs closed in the last 10 minutes."""
    async with sessions() as session:
        lags = await MirrorRepository().lag_seconds(session=session, since=datetime.now(UTC) - timedelta(minutes=10))
    return _quantile(sorted(lags), 0.99)


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


# -- the process --------------------------------------------------------------------------------


async def wait_for_dependencies(settings: Settings, stop: asyncio.Event, say: Callable[[str], None]) -> Client | None:
    """Connect to Temporal and PostgreSQL (with the mirror's tables migrated), saying what it
    waits for, every few seconds, until both answer; None when `stop` is set first."""
    waited_for = ""
    while not stop.is_set():
        try:
            address = settings.require_temporal_address()
            database_url = settings.require_database_url()
            engine = engine_from_settings(settings)
            try:
                if not await database_answers(engine):
                    raise ConnectionError(f"PostgreSQL at {redact_url(database_url)} does not answer")
                async with create_sessionmaker(engine)() as session:
                    try:
                        await MirrorRepository().position(LIVE, session=session)
                    except Exception as err:
                        raise ConnectionError(
                            f"PostgreSQL has no mirror tables yet (run `intake db migrate`): {type(err).__name__}"
                        ) from None
            finally:
                await engine.dispose()
            try:
                return await connect(settings)
            except Exception as err:
                raise ConnectionError(f"Temporal at {address} does not answer ({type(err).__name__})") from None
        except Exception as err:
            if str(err) != waited_for:
                say(f"waiting: {err}")
                waited_for = str(err)
        try:
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        except TimeoutError:
            pass
    return None


async def serve(settings: Settings, stop: asyncio.Event, say: Callable[[str], None] = print) -> None:
    """`intake mirror run`: wait for Temporal and PostgreSQL, then keep the mirror current
    until `stop` is set."""
    client = await wait_for_dependencies(settings, stop, say)
    if client is None:
        return
    engine = engine_from_settings(settings)
    try:
        feed = MirrorFeed(
            client, create_sessionmaker(engine), scope=settings.mirror_query, interval=settings.mirror_poll_interval
        )
        say(
            f"mirroring Temporal {settings.require_temporal_address()} (namespace {settings.temporal_namespace}"
            + (f", runs matching {settings.mirror_query}" if settings.mirror_query else "")
            + f") into PostgreSQL every {feed.interval:g} s"
        )
        await feed.run(stop)
        say(f"stopped after {feed.stats.ticks} ticks, {feed.stats.mirrored} runs mirrored")
    finally:
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(Settings(), stop, say=log.info)

    asyncio.run(run())


if __name__ == "__main__":
    main()
