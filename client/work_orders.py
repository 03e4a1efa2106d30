"""Start work-order and signed-document ingestion, and drive the export drain (CLI, API, demo, bench).

Workflow ids are derived from what is ingested, so starting the same thing
twice lands on the run that is going (and a finished one runs again, which
the activities answer from the database with `is_new` false):
- a file: its workspace and sha256 (the client hashes it; the worker reads it
  from the same path, so both must see the same filesystem, as the embedded
  stack's do);
- a Gmail message: its workspace, mailbox and message id; a Gmail search gets
  a fresh id per call (new mail may have arrived).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from client.api_tokens import check_team_id
from contracts.exports import ExportDrainInput, ExportDrainResult, RequeueFailedInput, export_drain_workflow_id
from contracts.work_orders import (
    DocumentKind,
    DocumentSource,
    FindGmailPdfsInput,
    IngestDocumentsInput,
    WorkspaceSpec,
    file_ingest_workflow_id,
    gmail_ingest_workflow_id,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import WorkOrderRepository, WorkspaceRepository
from workflows.exports import ExportDrainWorkflow
from workflows.work_orders import SignedDocumentIngestWorkflow, WorkOrderIngestWorkflow

WORKFLOWS: dict[DocumentKind, type[WorkOrderIngestWorkflow] | type[SignedDocumentIngestWorkflow]] = {
    "workorder": WorkOrderIngestWorkflow,
    "signed": SignedDocumentIngestWorkflow,
}


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def workspace_spec(slug: str, *, spreadsheet_id: str | None = None, team_id: str | None = None) -> WorkspaceSpec:
    """The workspace to ingest into, or InvalidInputError saying what is wrong with the slug or team.

    `team_id`: the team whose API tokens see the workspace's work orders (a new workspace, or
    one of no team yet).
    """
    if team_id is not None:
        check_team_id(team_id)
    try:
        return WorkspaceSpec(slug=slug, spreadsheet_id=spreadsheet_id, team_id=team_id)
    except ValidationError as err:
        raise InvalidInputError.from_validation("workspace", err) from err


async def check_workspace_for(
    sessions: async_sessionmaker[AsyncSession], kind: DocumentKind, workspace: WorkspaceSpec
) -> None:
    """Refuse (NotFoundError) signed ingestion into a workspace that does not exist.

    A signed document can only match a work order of its workspace, so a workspace it names
    must hold work orders already; only work-order ingestion creates a workspace.
    """
    if kind != "signed":
        return
    async with sessions() as session:
        found = await WorkspaceRepository().find_one(session=session, slug=workspace.slug)
    if found is None:
        raise NotFoundError(
            f"no workspace {workspace.slug!r}: a signed document matches a work order of an existing "
            f"workspace; `intake workorder ingest PDF... -w {workspace.slug}` makes one"
        )


def check_local_files(paths: list[Path]) -> list[Path]:
    """The absolute paths of local files to ingest, every one checked before any run starts.

    A path that does not exist, a directory or anything else that is not a regular file
    is refused (InvalidInputError naming it), so a typo starts nothing and writes nothing.
    Whether a file is a readable PDF stays for its run to find out (a "failed" outcome).
    """
    checked = []
    for given in paths:
        path = given.expanduser().resolve()
        if not path.exists():
            raise InvalidInputError(f"{given}: no such file")
        if path.is_dir():
            raise InvalidInputError(f"{given} is a directory, not a PDF file")
        if not path.is_file():
            raise InvalidInputError(f"{given} is not a regular file")
        checked.append(path)
    return checked


def _local_file(path: Path) -> tuple[Path, str]:
    """The absolute path of a local file to ingest, and its sha256."""
    [path] = check_local_files([path])
    return path, file_digest(path)


async def start_file_ingest(
    client: Client,
    path: Path,
    *,
    workspace: WorkspaceSpec,
    kind: DocumentKind,
    task_queue: str,
    drain_exports: bool = True,
) -> WorkflowHandle:
    """Start ingesting one local PDF (a work order, or a signed one)."""
    path, digest = await asyncio.to_thread(_local_file, path)
    document = DocumentSource(kind="file", path=str(path), filename=path.name)
    drain_id = export_drain_workflow_id(task_queue) if drain_exports else None
    return await _start(
        client,
        kind,
        IngestDocumentsInput(workspace=workspace, document=document, export_drain_id=drain_id),
        file_ingest_workflow_id(kind, workspace.slug, digest),
        task_queue,
    )


async def start_gmail_ingest(
    client: Client,
    *,
    workspace: WorkspaceSpec,
    kind: DocumentKind,
    user: str,
    task_queue: str,
    message_id: str | None = None,
    query: str | None = None,
    drain_exports: bool = True,
) -> WorkflowHandle:
    """Start ingesting the PDFs of one Gmail message, or of every message a Gmail search finds."""
    if (message_id is None) == (query is None):
        raise InvalidInputError("give exactly one of a Gmail message id or a Gmail search")
    workflow_id = gmail_ingest_workflow_id(
        kind, workspace.slug, user, message_id=message_id, search_token=str(uuid.uuid4())
    )
    gmail = FindGmailPdfsInput(user=user, message_id=message_id, query=query)
    drain_id = export_drain_workflow_id(task_queue) if drain_exports else None
    return await _start(
        client,
        kind,
        IngestDocumentsInput(workspace=workspace, gmail=gmail, child_id_prefix=workflow_id, export_drain_id=drain_id),
        workflow_id,
        task_queue,
    )


async def _start(
    client: Client, kind: DocumentKind, input: IngestDocumentsInput, workflow_id: str, task_queue: str
) -> WorkflowHandle:
    return await client.start_workflow(
        WORKFLOWS[kind].run,
        input,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def start_export_drain(
    client: Client,
    *,
    task_queue: str,
    input: ExportDrainInput | None = None,
) -> WorkflowHandle[ExportDrainWorkflow, ExportDrainResult]:
    """Start the task queue's export drain, or wake the one running (its settings then stay)."""
    return await client.start_workflow(
        ExportDrainWorkflow.run,
        input or ExportDrainInput(),
        id=export_drain_workflow_id(task_queue),
        task_queue=task_queue,
        start_signal="wake",
    )


async def retry_failed_exports(
    client: Client,
    *,
    task_queue: str,
    job_ids: list[str] | None = None,
    input: ExportDrainInput | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> WorkflowHandle[ExportDrainWorkflow, ExportDrainResult]:
    """Put FAILED export jobs (all, or these) back in the queue for a fresh round, and drain.

    With `sessions` (the CLI, the API), named jobs are checked first: an id no job has
    (NotFoundError) or a job that is not FAILED (ConflictError) is refused and nothing starts.
    """
    if job_ids is not None:
        job_ids = [export_job_id(job_id) for job_id in job_ids]
        if sessions is not None:
            await _check_failed(sessions, job_ids)
    return await client.start_workflow(
        ExportDrainWorkflow.run,
        input or ExportDrainInput(),
        id=export_drain_workflow_id(task_queue),
        task_queue=task_queue,
        start_signal="retry_failed",
        start_signal_args=[RequeueFailedInput(job_ids=job_ids)],
    )


async def _check_failed(sessions: async_sessionmaker[AsyncSession], job_ids: list[str]) -> None:
    async with sessions() as session:
        for job_id in job_ids:
            job = await ExportJobRepository().find_by_id(uuid.UUID(job_id), session=session)
            if job is None:
                raise NotFoundError(f"no export job {job_id} (`intake export status` lists the FAILED ones)")
            if job.status != "FAILED":
                raise ConflictError(f"export job {job_id} is {job.status}, not FAILED: only a FAILED job is retried")


def export_job_id(text: str) -> str:
    """An export job id as the queue stores it (a UUID), or InvalidInputError saying what is wrong."""
    return str(parse_uuid(text, "an export job id", ", as `intake export status` lists them"))


async def load_preview(sessions: async_sessionmaker[AsyncSession], *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest work orders with their export status (`intake report preview`, the API's preview)."""
    async with sessions() as session:
        rows = await WorkOrderRepository().preview(session=session, limit=limit)
    return [
        {
            "workspace": row.workspace_slug,
            "work_order_id": str(row.work_order.id),
            "work_order_number": row.work_order.work_order_number,
            "facility_manager": row.work_order.facility_manager,
            "site": row.work_order.site,
            "scheduled_date": row.work_order.scheduled_date.isoformat() if row.work_order.scheduled_date else None,
            "amount": str(row.work_order.amount) if row.work_order.amount is not None else None,
            "status": row.work_order.status,
            "signed_document_id": str(row.signed_document_id) if row.signed_document_id else None,
            "export_status": row.export_job.status if row.export_job else None,
            "export_attempts": row.export_job.attempts if row.export_job else 0,
            "export_error": row.export_job.last_error if row.export_job else None,
            "sheet_row": row.export_job.sheet_row if row.export_job else None,
            "created_at": row.work_order.created_at.isoformat(),
        }
        for row in rows
    ]


async def load_export_status(sessions: async_sessionmaker[AsyncSession], *, limit: int = 20) -> dict[str, Any]:
    """Jobs per status, whether a quota pause holds them, and the latest FAILED ones with their errors."""
    repository = ExportJobRepository()
    async with sessions() as session:
        counts = await repository.status_counts(session=session)
        held_until = await repository.held_until(session=session)
        failed = await repository.listing(session=session, status="FAILED", limit=limit)
    return {
        "counts": {status: counts.get(status, 0) for status in ("PENDING", "PROCESSING", "DONE", "FAILED")},
        "held_until": held_until.isoformat() if held_until else None,
        "failed": [
            {
                "job_id": str(job.id),
                "kind": job.kind,
                "attempts": job.attempts,
                "last_error": job.last_error,
                "failed_at": job.completed_at.isoformat() if job.completed_at else None,
            }
            for job in failed
        ],
    }
