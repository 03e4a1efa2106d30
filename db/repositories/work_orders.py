"""Queries of the work-order pipeline: workspaces, work orders, signed documents, extraction runs.

Every read and write is workspace-scoped. The export queue has its own module
(`db.repositories.exports`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
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


class WorkOrderRepository(Repository[WorkOrder]):
    def __init__(self) -> None:
        super().__init__(WorkOrder)

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
