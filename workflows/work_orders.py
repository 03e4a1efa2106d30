"""WorkOrderIngestWorkflow and SignedDocumentIngestWorkflow: PDFs into work orders and signed matches.

Both take a workspace (work orders create it on first use; signed documents
need an existing one) and a source: one document (a local file or one Gmail
attachment), or Gmail (one message, or a search) whose PDF attachments become
one child run each. A run over one document carries its
work order number as the `IntakeWorkOrderId` search attribute, so every PDF of
a work order is findable in the Temporal UI.

The activities do the work in one transaction each (see
activities/work_orders.py); the workflows only orchestrate and, when
ingestion queued an export, kick the export drain. A Sheets problem never
reaches them: the export runs in its own workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

from contracts.work_orders import (
    EnsureWorkspaceInput,
    IngestDocumentInput,
    IngestDocumentsInput,
    SignedIngestResult,
    WorkOrderIngestResult,
    document_child_workflow_id,
)
from workflows.exports import kick_export_drain
from workflows.policies import DB_OUTAGE_ALLOWANCE, DB_WRITE, OUTSIDE_CALL, ActivityOptions
from workflows.search_attributes import WORK_ORDER_ID

with workflow.unsafe.imports_passed_through():
    from activities.work_orders import WorkOrderActivities

# Fetching a document (Gmail) and writing it: an outside call with a longer timeout (120 s, plus the
# time it may wait for the database).
INGEST_CALL: ActivityOptions = {**OUTSIDE_CALL, "start_to_close_timeout": timedelta(seconds=120) + DB_OUTAGE_ALLOWANCE}


@workflow.defn
class WorkOrderIngestWorkflow:
    @workflow.run
    async def run(self, input: IngestDocumentsInput) -> WorkOrderIngestResult:
        workspace_id, documents = await _ingest(
            input, WorkOrderActivities.ingest_work_order, WorkOrderIngestResult, create_workspace=True
        )
        return WorkOrderIngestResult(workspace_id=workspace_id, documents=documents)


@workflow.defn
class SignedDocumentIngestWorkflow:
    @workflow.run
    async def run(self, input: IngestDocumentsInput) -> SignedIngestResult:
        # A signed document matches a work order of an existing workspace: it never creates one.
        workspace_id, documents = await _ingest(
            input, WorkOrderActivities.ingest_signed, SignedIngestResult, create_workspace=False
        )
        return SignedIngestResult(workspace_id=workspace_id, documents=documents)


async def _ingest(
    input: IngestDocumentsInput,
    ingest_activity: Callable[..., Any],
    result_type: type[WorkOrderIngestResult] | type[SignedIngestResult],
    *,
    create_workspace: bool,
) -> tuple[str, list[Any]]:
    """What both workflows do: the workspace, then the document, or one child per Gmail PDF."""
    workspace = await workflow.execute_local_activity_method(
        WorkOrderActivities.ensure_workspace,
        EnsureWorkspaceInput(**input.workspace.model_dump(), create=create_workspace),
        **DB_WRITE,
    )
    if input.document is not None:
        document = await workflow.execute_activity_method(
            ingest_activity,
            IngestDocumentInput(workspace_id=workspace.workspace_id, source=input.document),
            **INGEST_CALL,
        )
        if document.work_order_number:
            workflow.upsert_search_attributes([WORK_ORDER_ID.value_set(document.work_order_number)])
        documents = [document]
    else:
        assert input.gmail is not None
        found = await workflow.execute_activity_method(WorkOrderActivities.find_gmail_pdfs, input.gmail, **INGEST_CALL)
        # One child at a time, oldest mail first: of two copies of a PDF, the first one is the new one.
        documents = []
        for source in found.documents:
            # Each PDF is a child run of the same workflow type as this one.
            result = await workflow.execute_child_workflow(
                workflow.info().workflow_type,
                IngestDocumentsInput(workspace=input.workspace, document=source),
                id=document_child_workflow_id(input.child_id_prefix or "", source),
                result_type=result_type,
            )
            documents += result.documents
    if input.export_drain_id is not None and any(doc.export_enqueued for doc in documents):
        await kick_export_drain(input.export_drain_id)
    return workspace.workspace_id, documents
