"""Queries of the work-order pipeline: workspaces, work orders, signed documents, extraction runs.

Every read and write is workspace-scoped. The export queue has its own module
(`db.repositories.exports`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Numeric, Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

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


@dataclass(frozen=True)
class WorkOrderFields:
    """What ingestion stores of one work order, already read and checked (a PDF's fields, a batch's row)."""

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


# The work orders of one ingestion, in one statement whatever their number: the rows travel as
# arrays, unnested. A number the workspace has already keeps its work order (and its fields):
# ON CONFLICT leaves it, and RETURNING names only the new ones.
_INGEST = text(
    """
    INSERT INTO work_orders (workspace_id, work_order_number, fm_key, facility_manager, site, scheduled_date,
                             amount, description)
    SELECT :workspace_id, work_order_number, fm_key, facility_manager, site, scheduled_date, amount, description
    FROM unnest(:numbers, :fm_keys, :managers, :sites, :dates, :amounts, :descriptions)
      AS t(work_order_number, fm_key, facility_manager, site, scheduled_date, amount, description)
    ON CONFLICT (workspace_id, work_order_number) DO NOTHING
    RETURNING id, work_order_number
    """
).bindparams(
    bindparam("workspace_id", type_=UUID(as_uuid=True)),
    *(bindparam(name, type_=ARRAY(Text)) for name in ("numbers", "fm_keys", "managers", "sites", "descriptions")),
    bindparam("dates", type_=ARRAY(Date)),
    bindparam("amounts", type_=ARRAY(Numeric)),
)
_KNOWN = text(
    "SELECT id, work_order_number FROM work_orders "
    "WHERE workspace_id = :workspace_id AND work_order_number = ANY(:numbers)"
).bindparams(bindparam("workspace_id", type_=UUID(as_uuid=True)), bindparam("numbers", type_=ARRAY(Text)))
_ENQUEUE_EXPORTS = text(
    """
    INSERT INTO export_jobs (workspace_id, kind, work_order_id)
    SELECT :workspace_id, 'WORK_ORDER', id FROM unnest(:ids) AS id
    ON CONFLICT DO NOTHING
    RETURNING work_order_id
    """
).bindparams(bindparam("workspace_id", type_=UUID(as_uuid=True)), bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))


class WorkOrderRepository(Repository[WorkOrder]):
    def __init__(self) -> None:
        super().__init__(WorkOrder)

    async def ingest(
        self, workspace: Workspace, orders: Sequence[WorkOrderFields], *, session: AsyncSession
    ) -> list[Ingested]:
        """THE write of work-order ingestion, for a PDF's fields and a batch's rows alike: each
        work order by its number (unique per workspace: a known number keeps its work order and
        fields), and its export job when the workspace exports to a spreadsheet (one per work
        order). Any number of orders in two or three statements; the numbers must be distinct. Returns
        one `Ingested` per order, in order.
        """
        if not orders:
            return []
        numbers = [order.work_order_number for order in orders]
        if len(set(numbers)) != len(numbers):
            raise ValueError("ingest takes distinct work order numbers")
        created = {
            row.work_order_number: row.id
            for row in await session.execute(
                _INGEST,
                {
                    "workspace_id": workspace.id,
                    "numbers": numbers,
                    "fm_keys": [order.fm_key for order in orders],
                    "managers": [order.facility_manager for order in orders],
                    "sites": [order.site for order in orders],
                    "dates": [order.scheduled_date for order in orders],
                    "amounts": [order.amount for order in orders],
                    "descriptions": [order.description for order in orders],
                },
            )
        }
        ids = dict(created)
        if len(created) < len(numbers):
            # Numbers the workspace had: their work orders (committed by now, as ON CONFLICT waited
            # for any transaction still writing one).
            known = [number for number in numbers if number not in created]
            for row in await session.execute(_KNOWN, {"workspace_id": workspace.id, "numbers": known}):
                ids[row.work_order_number] = row.id
        known_ids = [ids[number] for number in numbers]
        enqueued: set[uuid.UUID] = set()
        if workspace.spreadsheet_id:
            enqueued = set(
                (await session.scalars(_ENQUEUE_EXPORTS, {"workspace_id": workspace.id, "ids": known_ids})).all()
            )
        return [
            Ingested(
                work_order_id=id_,
                work_order_number=number,
                is_new=number in created,
                export_enqueued=id_ in enqueued,
            )
            for id_, number in zip(known_ids, numbers, strict=True)
        ]

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
