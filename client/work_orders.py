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

import hashlib
import uuid
from pathlib import Path
from typing import Literal

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.exports import RequeueInput
from activities.work_orders import DocumentSource, FindGmailPdfsInput, WorkspaceSpec
from core.errors import InvalidInputError
from workflows.exports import ExportDrainInput, ExportDrainResult, ExportDrainWorkflow, export_drain_workflow_id
from workflows.work_orders import DocumentIngestInput, SignedDocumentIngestWorkflow, WorkOrderIngestWorkflow

DocumentKind = Literal["workorder", "signed"]
WORKFLOWS = {"workorder": WorkOrderIngestWorkflow, "signed": SignedDocumentIngestWorkflow}


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def start_file_ingest(
    client: Client, path: Path, *, workspace: WorkspaceSpec, kind: DocumentKind, task_queue: str,
    drain_exports: bool = True,
) -> WorkflowHandle:
    """Start ingesting one local PDF (a work order, or a signed one)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    document = DocumentSource(kind="file", path=str(path), filename=path.name)
    drain_id = export_drain_workflow_id(task_queue) if drain_exports else None
    return await _start(client, kind, DocumentIngestInput(workspace=workspace, document=document,
                                                          export_drain_id=drain_id),
                        f"{kind}/{workspace.slug}/file/{file_digest(path)}", task_queue)


async def start_gmail_ingest(
    client: Client, *, workspace: WorkspaceSpec, kind: DocumentKind, user: str, task_queue: str,
    message_id: str | None = None, query: str | None = None, drain_exports: bool = True,
) -> WorkflowHandle:
    """Start ingesting the PDFs of one Gmail message, or of every message a Gmail search finds."""
    if (message_id is None) == (query is None):
        raise InvalidInputError("give exactly one of a Gmail message id or a Gmail search")
    key = f"message/{message_id}" if message_id else f"search/{uuid.uuid4()}"
    gmail = FindGmailPdfsInput(user=user, message_id=message_id, query=query)
    drain_id = export_drain_workflow_id(task_queue) if drain_exports else None
    return await _start(client, kind, DocumentIngestInput(workspace=workspace, gmail=gmail,
                                                          export_drain_id=drain_id),
                        f"{kind}/{workspace.slug}/gmail/{user}/{key}", task_queue)


async def _start(client: Client, kind: DocumentKind, input: DocumentIngestInput, workflow_id: str,
                 task_queue: str) -> WorkflowHandle:
    return await client.start_workflow(
        WORKFLOWS[kind].run, input, id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def start_export_drain(
    client: Client, *, task_queue: str, input: ExportDrainInput | None = None,
) -> WorkflowHandle[ExportDrainWorkflow, ExportDrainResult]:
    """Start the task queue's export drain, or wake the one running (its settings then stay)."""
    return await client.start_workflow(
        ExportDrainWorkflow.run, input or ExportDrainInput(), id=export_drain_workflow_id(task_queue),
        task_queue=task_queue, start_signal="wake",
    )


async def retry_failed_exports(
    client: Client, *, task_queue: str, job_ids: list[str] | None = None, input: ExportDrainInput | None = None,
) -> WorkflowHandle[ExportDrainWorkflow, ExportDrainResult]:
    """Put FAILED export jobs (all, or these) back in the queue for a fresh round, and drain."""
    return await client.start_workflow(
        ExportDrainWorkflow.run, input or ExportDrainInput(), id=export_drain_workflow_id(task_queue),
        task_queue=task_queue, start_signal="retry_failed", start_signal_args=[RequeueInput(job_ids=job_ids)],
    )
