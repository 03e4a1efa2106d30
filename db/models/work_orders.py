"""Work orders, signed documents and the Sheets export queue.

The database is the authority; Google Sheets is a best-effort export driven by
export_jobs. Uniqueness is per workspace: the same PDF (same sha256) may belong
to two workspaces, and a work order number is unique within its workspace only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.dates import DATE_ORDERS
from db.base import Base, TimestampMixin, one_of, uuid_pk

SOURCE_TYPES = ("GMAIL", "FILE")
WORK_ORDER_STATUSES = ("OPEN", "SIGNED")
MATCH_STATUSES = ("MATCHED", "UNMATCHED", "REFUSED")
EXTRACTION_KINDS = ("WORK_ORDER", "SIGNED_DOCUMENT")
EXTRACTION_OUTCOMES = ("SUCCEEDED", "FAILED")
EXPORT_KINDS = ("WORK_ORDER", "SIGNED_DOCUMENT")
EXPORT_STATUSES = ("PENDING", "PROCESSING", "DONE", "FAILED")


def _workspace_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True)


class Workspace(TimestampMixin, Base):
    """A team's space for work orders; created on its first ingestion, found by its slug."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # Where exports go; no spreadsheet means no export jobs are enqueued.
    spreadsheet_id: Mapped[str | None] = mapped_column(Text)
    work_order_sheet: Mapped[str] = mapped_column(Text, nullable=False, server_default="Work Orders")
    signed_sheet: Mapped[str] = mapped_column(Text, nullable=False, server_default="Signed")
    # The team whose API tokens see this workspace's work orders (none: no token does).
    team_id: Mapped[str | None] = mapped_column(Text, index=True)


class WorkspaceMember(Base):
    __tablename__ = "workspace_members"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, primary_key=True, index=True)
    role: Mapped[str] = mapped_column(Text, nullable=False, server_default="member")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class FmProfile(TimestampMixin, Base):
    """How one facility manager's PDFs are read: who sends them, what marks them, where each field is."""

    __tablename__ = "fm_profiles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "fm_key"),
        CheckConstraint(one_of("date_order", DATE_ORDERS), name="date_order"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    fm_key: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    sender_domains: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    # Text that marks a PDF as this FM's when the sender is unknown (a local file).
    text_markers: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    # field -> regular expression with one group; fields left out use the default patterns.
    field_patterns: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # How this FM writes an ambiguous numeric date (04/07/2024): day_first or month_first;
    # NULL leaves it to the deployment's INTAKE_DATE_ORDER.
    date_order: Mapped[str | None] = mapped_column(Text)


class WorkOrder(TimestampMixin, Base):
    """The canonical work order; one per (workspace, work order number)."""

    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "work_order_number"),
        CheckConstraint(one_of("status", WORK_ORDER_STATUSES), name="status"),
        Index("ix_work_orders_workspace_created", "workspace_id", "created_at"),
        # The last work orders of a team (the dashboard's preview): newest first across its workspaces.
        Index("ix_work_orders_created", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)
    work_order_number: Mapped[str] = mapped_column(Text, nullable=False)
    fm_key: Mapped[str | None] = mapped_column(Text)
    facility_manager: Mapped[str | None] = mapped_column(Text)
    site: Mapped[str | None] = mapped_column(Text)
    scheduled_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="USD")
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="OPEN")
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkOrderSource(Base):
    """One PDF a work order came from; its sha256 makes ingestion idempotent per workspace."""

    __tablename__ = "work_order_sources"
    __table_args__ = (
        UniqueConstraint("workspace_id", "file_hash"),
        CheckConstraint(one_of("source_type", SOURCE_TYPES), name="source_type"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    file_hash: Mapped[str] = mapped_column(Text, nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    source_metadata: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class SignedDocument(Base):
    """A signed PDF, kept whatever became of its match (matched, unmatched, refused)."""

    __tablename__ = "signed_documents"
    __table_args__ = (
        UniqueConstraint("workspace_id", "file_hash"),
        CheckConstraint(one_of("source_type", SOURCE_TYPES), name="source_type"),
        CheckConstraint(one_of("match_status", MATCH_STATUSES), name="match_status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)
    file_hash: Mapped[str] = mapped_column(Text, nullable=False)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    source_type: Mapped[str] = mapped_column(Text, nullable=False)
    source_metadata: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    fm_key: Mapped[str | None] = mapped_column(Text)
    extracted_work_order_number: Mapped[str] = mapped_column(Text, nullable=False)
    signed_by: Mapped[str | None] = mapped_column(Text)
    signed_on: Mapped[date | None] = mapped_column(Date)
    match_status: Mapped[str] = mapped_column(Text, nullable=False)
    match_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class SignedMatch(Base):
    """The 1:1 link: one signed document per work order (PK) and one work order per document (UNIQUE)."""

    __tablename__ = "signed_match"

    work_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True)
    signed_document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("signed_documents.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ExtractionRun(Base):
    """One extraction attempt of one PDF, with its outcome: the audit trail of what was read."""

    __tablename__ = "extraction_runs"
    __table_args__ = (
        CheckConstraint(one_of("kind", EXTRACTION_KINDS), name="kind"),
        CheckConstraint(one_of("outcome", EXTRACTION_OUTCOMES), name="outcome"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    file_hash: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    filename: Mapped[str] = mapped_column(Text, nullable=False)
    fm_key: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    # What was read but not stored, one {"field", "text", "message"} each (an ambiguous or invalid date).
    warnings: Mapped[list[dict[str, str]]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    text_chars: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL"), index=True
    )
    signed_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("signed_documents.id", ondelete="SET NULL"))
    workflow_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ExportJob(TimestampMixin, Base):
    """One Sheets append to do, mirroring the Temporal attempts that do it.

    `attempts` counts the attempts of the current round (Temporal's attempt
    number; a manual retry starts a new round), `last_attempt_at` is set before
    every call to Sheets, so a job that never reached Sheets is known to have
    written nothing. `next_attempt_at` is when the job is due; while an attempt
    runs, the end of its lease (until when its Sheets calls may run).
    """

    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint(one_of("kind", EXPORT_KINDS), name="kind"),
        CheckConstraint(one_of("status", EXPORT_STATUSES), name="status"),
        CheckConstraint(
            "(kind = 'WORK_ORDER' AND work_order_id IS NOT NULL AND signed_document_id IS NULL) OR "
            "(kind = 'SIGNED_DOCUMENT' AND signed_document_id IS NOT NULL AND work_order_id IS NULL)",
            name="entity",
        ),
        Index("ix_export_jobs_status_next_attempt_at", "status", "next_attempt_at"),
        # The admin API's listing: a workspace's export jobs, newest first (keyset on created_at, id).
        Index("ix_export_jobs_workspace_created", "workspace_id", "created_at", "id"),
        # The FAILED (or any status's) jobs newest first (the dashboard's list with Retry buttons).
        Index("ix_export_jobs_status_created", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = _workspace_fk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # Exactly one of these is set, as `kind` says; one export job per work order or document.
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    signed_document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("signed_documents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sheet_row: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
