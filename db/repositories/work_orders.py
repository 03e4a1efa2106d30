"""Queries of the work-order pipeline: workspaces, work orders, signed documents, extraction runs.

Every read and write is workspace-scoped. The export queue has its own module
(`db.repositories.exports`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import TextClause, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ConcurrentWriteError
from db.models.work_orders import (
    ExportJob,
    ExtractionRun,
    FmProfile,
    SignedDocument,
    SignedMatch,
    WorkOrder,
    WorkOrderSource,
    Workspace,
    WorkspaceMember,
)
from db.repository import Repository

# Profiles every new workspace starts with: the facility managers whose PDFs the sandbox sends,
# and a default that reads any "Label: value" work order. Data, not code: edit the rows.
STARTER_PROFILES: list[dict[str, Any]] = [
    {"fm_key": "default", "display_name": "Any facility manager", "is_default": True},
    {
        "fm_key": "acme",
        "display_name": "ACME Facilities",
        "sender_domains": ["acme-fm.example"],
        "text_markers": ["ACME Facilities"],
    },
    {
        "fm_key": "northwind",
        "display_name": "Northwind FM",
        "sender_domains": ["northwind-fm.example"],
        "text_markers": ["Northwind FM"],
    },
]


class WorkspaceRepository(Repository[Workspace]):
    def __init__(self) -> None:
        super().__init__(Workspace)

    async def get_or_create(
        self,
        *,
        session: AsyncSession,
        slug: str,
        name: str | None = None,
        spreadsheet_id: str | None = None,
        owner_user_id: str | None = None,
        team_id: str | None = None,
    ) -> tuple[Workspace, bool]:
        """The workspace with this slug, created (with its owner and starter FM profiles) if new.

        `team_id`: the team a new workspace belongs to; an existing workspace of no team is given
        it, one of another team keeps its own.
        """
        created_id = await session.scalar(
            insert(Workspace)
            .values(slug=slug, name=name or slug, spreadsheet_id=spreadsheet_id, team_id=team_id)
            .on_conflict_do_nothing(index_elements=[Workspace.slug])
            .returning(Workspace.id)
        )
        if created_id is None and team_id is not None:
            await self.update(
                Workspace.slug == slug, Workspace.team_id.is_(None), values={"team_id": team_id}, session=session
            )
        if created_id is not None:
            if owner_user_id:
                session.add(WorkspaceMember(workspace_id=created_id, user_id=owner_user_id, role="owner"))
            for profile in STARTER_PROFILES:
                session.add(FmProfile(workspace_id=created_id, **profile))
            await self._flush(session, "create workspace")
        workspace = await self.find_one(session=session, slug=slug)
        assert workspace is not None
        return workspace, created_id is not None


class FmProfileRepository(Repository[FmProfile]):
    def __init__(self) -> None:
        super().__init__(FmProfile)

    async def for_workspace(self, workspace_id: uuid.UUID, *, session: AsyncSession) -> list[FmProfile]:
        return await self.find_many(session=session, workspace_id=workspace_id, order_by=[FmProfile.fm_key])

    async def ensure(
        self, *, session: AsyncSession, workspace_id: uuid.UUID, fm_key: str, changes: dict[str, Any]
    ) -> FmProfile:
        """Create the workspace's profile `fm_key` from `changes` (its display name defaults to the key),
        or set on the existing one exactly the columns `changes` names (None clears a date order)."""
        stmt = (
            insert(FmProfile)
            .values(workspace_id=workspace_id, fm_key=fm_key, **{"display_name": fm_key, **changes})
            .on_conflict_do_update(
                index_elements=[FmProfile.workspace_id, FmProfile.fm_key], set_={**changes, "updated_at": func.now()}
            )
            .returning(FmProfile)
        )
        return (await session.scalars(stmt, execution_options={"populate_existing": True})).one()


class WorkOrderFields(NamedTuple):
    """What ingestion stores of one work order, already read and checked (a PDF's fields, a batch's
    row). A tuple, in the staging table's column order: a batch makes thousands at a time."""

    work_order_number: str
    fm_key: str | None = None
    facility_manager: str | None = None
    site: str | None = None
    scheduled_date: date | None = None
    amount: Decimal | None = None  # at most numeric(12, 2): integrations.pdf_extract.parse_amount
    description: str | None = None


@dataclass(frozen=True)
class Ingested:
    """One work order as ingestion left it: new, or found by its number; whether its export was queued now."""

    work_order_id: uuid.UUID
    work_order_number: str
    is_new: bool
    export_enqueued: bool


# Ingestion stages its work orders in a temporary table (one per connection, emptied at every
# commit) with one binary COPY, the fastest way rows reach PostgreSQL, then writes them set-wise:
# whatever their number, a few statements, and no row travels back to Python unless asked for.
# Each staged row gets the id its work order will have as it is copied (is_new until a known
# work order of its number is found).
_STAGE_COLUMNS = ("position", *WorkOrderFields._fields)


def _in_workspace(sql: str) -> TextClause:
    """A statement of the staged rows for the workspace `:workspace_id`."""
    return text(sql).bindparams(bindparam("workspace_id", type_=UUID(as_uuid=True)))


_STAGE = text(
    """
    CREATE TEMPORARY TABLE IF NOT EXISTS ingest_orders (
        position integer NOT NULL,
        work_order_number text NOT NULL,
        fm_key text,
        facility_manager text,
        site text,
        scheduled_date date,
        amount numeric(12, 2),
        description text,
        work_order_id uuid NOT NULL DEFAULT gen_random_uuid(),
        is_new boolean NOT NULL DEFAULT true,
        export_enqueued boolean NOT NULL DEFAULT false
    ) ON COMMIT DELETE ROWS
    """
)
_UNSTAGE = text("DELETE FROM ingest_orders")
# Numbers the workspace has: their work orders (and their fields) stay; the staged row takes the
# work order's id. `AND known.id <> staged.work_order_id` leaves the rows this transaction inserted.
_MATCH_KNOWN = _in_workspace(
    """
    UPDATE ingest_orders AS staged SET work_order_id = known.id, is_new = false
    FROM work_orders AS known
    WHERE staged.is_new AND known.workspace_id = :workspace_id
      AND known.work_order_number = staged.work_order_number AND known.id <> staged.work_order_id
    """
)
# The new numbers, as new work orders with their staged ids. A plain insert (twice as fast as
# ON CONFLICT's speculative one) for the common case: no other transaction is writing the same
# numbers. When one is, the insert waits for it, fails on the unique key if it commits, and
# `_INSERT_NEW_ONCE` runs instead. In number order, so two ingestions of overlapping numbers
# take their locks in the same order (one waits for the other rather than both deadlocking).
_INSERT_NEW = """
    INSERT INTO work_orders (id, workspace_id, work_order_number, fm_key, facility_manager, site, scheduled_date,
                             amount, description)
    SELECT work_order_id, :workspace_id, work_order_number, fm_key, facility_manager, site, scheduled_date,
           amount, description
    FROM ingest_orders WHERE is_new ORDER BY work_order_number
"""
_INSERT_NEW_PLAIN = _in_workspace(_INSERT_NEW)
_INSERT_NEW_ONCE = _in_workspace(_INSERT_NEW + " ON CONFLICT (workspace_id, work_order_number) DO NOTHING")
_UNIQUE_NUMBER = "uq_work_orders_workspace_id_work_order_number"
# One export job per work order (a work order that has one keeps it).
_ENQUEUE_EXPORTS = _in_workspace(
    """
    WITH queued AS (
        INSERT INTO export_jobs (workspace_id, kind, work_order_id)
        SELECT :workspace_id, 'WORK_ORDER', work_order_id FROM ingest_orders ORDER BY position
        ON CONFLICT DO NOTHING
        RETURNING work_order_id
    )
    UPDATE ingest_orders AS staged SET export_enqueued = true
    FROM queued WHERE staged.work_order_id = queued.work_order_id
    """
)
_STAGED = text("SELECT work_order_id, work_order_number, is_new, export_enqueued FROM ingest_orders ORDER BY position")
# Staged rows whose id names no work order: none, once `ingest_staged` is done.
_UNWRITTEN = text(
    "SELECT count(*) FROM ingest_orders AS staged WHERE staged.is_new "
    "AND NOT EXISTS (SELECT 1 FROM work_orders AS w WHERE w.id = staged.work_order_id)"
)


@dataclass(frozen=True)
class StagedCounts:
    """What `WorkOrderRepository.ingest_staged` did with the staged work orders."""

    created: int
    existing: int
    exports_enqueued: int


class WorkOrderRepository(Repository[WorkOrder]):
    def __init__(self) -> None:
        super().__init__(WorkOrder)

    async def ingest(
        self, workspace: Workspace, orders: Sequence[WorkOrderFields], *, session: AsyncSession
    ) -> list[Ingested]:
        """THE write of work-order ingestion, for a PDF's fields and a batch's rows alike: each
        work order by its number (unique per workspace: a known number keeps its work order and
        fields), and its export job when the workspace exports to a spreadsheet (one per work
        order). The numbers must be distinct. Returns one `Ingested` per order, in order.
        """
        if not orders:
            return []
        staged = await self.stage(enumerate(orders), session=session)
        await self.ingest_staged(workspace, staged, session=session)
        return [
            Ingested(
                work_order_id=row.work_order_id,
                work_order_number=row.work_order_number,
                is_new=row.is_new,
                export_enqueued=row.export_enqueued,
            )
            for row in await session.execute(_STAGED)
        ]

    async def stage(self, orders: Iterable[tuple[int, WorkOrderFields]], *, session: AsyncSession) -> int:
        """Stage (position, fields) pairs for `ingest_staged`, in one COPY; how many were staged.

        The staging table is this connection's and this transaction's: emptied here, and at
        commit. Positions order the writes (and a batch uses its row numbers); numbers must be
        distinct.
        """
        # Through the session first: its transaction begins (the COPY below is part of it).
        await session.execute(_STAGE)
        await session.execute(_UNSTAGE)
        driver = await _driver_connection(session)
        records = [(position, *order) for position, order in orders]
        numbers = {record[1] for record in records}
        if len(numbers) != len(records):
            raise ValueError("ingest takes distinct work order numbers")
        await driver.copy_records_to_table("ingest_orders", records=records, columns=_STAGE_COLUMNS)
        return len(records)

    async def ingest_staged(self, workspace: Workspace, staged: int, *, session: AsyncSession) -> StagedCounts:
        """Ingest the `staged` work orders `stage` staged: known numbers are matched to their work
        orders, the others become new ones (every staged row ends with its work order's id and
        `is_new`), and each gets its export job when the workspace exports (`export_enqueued`)."""
        ids = {"workspace_id": workspace.id}
        known = _rowcount(await session.execute(_MATCH_KNOWN, ids))
        try:
            async with session.begin_nested():
                created = _rowcount(await session.execute(_INSERT_NEW_PLAIN, ids))
        except IntegrityError as err:
            if _UNIQUE_NUMBER not in str(err.orig):
                raise
            # Another transaction committed some of these numbers after they were matched: its
            # work orders win (as they would have had it committed first), the rest are inserted.
            created = _rowcount(await session.execute(_INSERT_NEW_ONCE, ids))
            known += _rowcount(await session.execute(_MATCH_KNOWN, ids))
            if created + known != staged or await session.scalar(_UNWRITTEN):
                # Its work order deleted in between, say: this attempt writes nothing, the next one
                # starts over from what is committed then.
                raise ConcurrentWriteError(
                    f"ingesting {staged} work orders met a concurrent change to the same numbers; try again"
                ) from err
        enqueued = 0
        if workspace.spreadsheet_id:
            enqueued = _rowcount(await session.execute(_ENQUEUE_EXPORTS, ids))
        return StagedCounts(created=created, existing=known, exports_enqueued=enqueued)

    async def lock_document(self, workspace_id: uuid.UUID, file_hash: str, *, session: AsyncSession) -> None:
        """Serialise ingestions of one file in one workspace until the transaction ends."""
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"document:{workspace_id}:{file_hash}"},
        )

    async def get_or_create(
        self, *, session: AsyncSession, workspace_id: uuid.UUID, work_order_number: str, **fields: Any
    ) -> tuple[WorkOrder, bool]:
        """The workspace's work order with this number, inserted from `fields` when it is new.

        An existing work order keeps its fields: a second PDF of the same number
        is recorded as another source of it, it does not rewrite it.
        """
        created_id = await session.scalar(
            insert(WorkOrder)
            .values(workspace_id=workspace_id, work_order_number=work_order_number, **fields)
            .on_conflict_do_nothing(index_elements=[WorkOrder.workspace_id, WorkOrder.work_order_number])
            .returning(WorkOrder.id)
        )
        row = await self.find_one(session=session, workspace_id=workspace_id, work_order_number=work_order_number)
        assert row is not None
        return row, created_id is not None

    async def by_number(self, workspace_id: uuid.UUID, number: str, *, session: AsyncSession) -> WorkOrder | None:
        return await self.find_one(session=session, workspace_id=workspace_id, work_order_number=number)

    async def preview(
        self, *, session: AsyncSession, workspace_id: uuid.UUID | None = None, limit: int = 20
    ) -> list[PreviewRow]:
        """The newest work orders with their export job's state and signed document, if any."""
        stmt = (
            select(WorkOrder, Workspace.slug, ExportJob, SignedMatch.signed_document_id)
            .join(Workspace, Workspace.id == WorkOrder.workspace_id)
            .outerjoin(ExportJob, ExportJob.work_order_id == WorkOrder.id)
            .outerjoin(SignedMatch, SignedMatch.work_order_id == WorkOrder.id)
            .order_by(WorkOrder.created_at.desc(), WorkOrder.id)
            .limit(limit)
        )
        if workspace_id is not None:
            stmt = stmt.where(WorkOrder.workspace_id == workspace_id)
        rows = (await session.execute(stmt)).all()
        return [
            PreviewRow(work_order=wo, workspace_slug=slug, export_job=job, signed_document_id=signed)
            for wo, slug, job, signed in rows
        ]


@dataclass(frozen=True)
class PreviewRow:
    work_order: WorkOrder
    workspace_slug: str
    export_job: ExportJob | None
    signed_document_id: uuid.UUID | None


class WorkOrderSourceRepository(Repository[WorkOrderSource]):
    def __init__(self) -> None:
        super().__init__(WorkOrderSource)

    async def by_hash(
        self, workspace_id: uuid.UUID, file_hash: str, *, session: AsyncSession
    ) -> WorkOrderSource | None:
        return await self.find_one(session=session, workspace_id=workspace_id, file_hash=file_hash)


class SignedDocumentRepository(Repository[SignedDocument]):
    def __init__(self) -> None:
        super().__init__(SignedDocument)

    async def by_hash(self, workspace_id: uuid.UUID, file_hash: str, *, session: AsyncSession) -> SignedDocument | None:
        return await self.find_one(session=session, workspace_id=workspace_id, file_hash=file_hash)


class SignedMatchRepository(Repository[SignedMatch]):
    def __init__(self) -> None:
        super().__init__(SignedMatch)

    async def claim(
        self, work_order_id: uuid.UUID, signed_document_id: uuid.UUID, *, session: AsyncSession
    ) -> SignedMatch:
        """Link the two unless the work order is linked already; returns the link the work order has.

        The primary key (work order) and the unique signed document make the
        link 1:1 both ways; a caller compares the returned document with its own.
        """
        await session.execute(
            insert(SignedMatch)
            .values(work_order_id=work_order_id, signed_document_id=signed_document_id)
            .on_conflict_do_nothing(index_elements=[SignedMatch.work_order_id])
        )
        match = await self.find_one(session=session, work_order_id=work_order_id)
        assert match is not None
        return match

    async def for_document(self, signed_document_id: uuid.UUID, *, session: AsyncSession) -> SignedMatch | None:
        return await self.find_one(session=session, signed_document_id=signed_document_id)


class ExtractionRunRepository(Repository[ExtractionRun]):
    def __init__(self) -> None:
        super().__init__(ExtractionRun)


async def _driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's (in its transaction): for COPY, which the
    SQLAlchemy layer does not speak."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
