"""The work-order pipeline's contract: PDFs (files or Gmail attachments) become work orders.

`WorkOrderIngestWorkflow` and `SignedDocumentIngestWorkflow` take an `IngestDocumentsInput`:
one document, or the PDFs of Gmail messages, each of which becomes a child run
(`document_child_workflow_id`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

# -- parts ----------------------------------------------------------------------------------


# A workspace slug: 1-63 lower-case letters, digits and '-', starting with a letter or digit. It is
# part of workflow ids and typed at the command line, so a typo is refused rather than made a workspace.
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class WorkspaceSpec(BaseModel):
    """Which workspace a document belongs to; created from these values on first use."""

    slug: str
    name: str | None = None
    spreadsheet_id: str | None = None
    owner_user_id: str | None = None
    # The team whose API tokens see the workspace's work orders; a new workspace takes it, an
    # existing one without a team is given it (None: no team, no token sees them).
    team_id: str | None = None

    @field_validator("slug")
    @classmethod
    def _slug_shape(cls, slug: str) -> str:
        if not SLUG_PATTERN.fullmatch(slug):
            raise ValueError(
                f"{slug!r} is not a workspace slug: 1-63 lower-case letters, digits and '-', "
                "starting with a letter or digit"
            )
        return slug


class DocumentSource(BaseModel):
    """Where one PDF is: a local file the worker can read, or one Gmail attachment."""

    kind: Literal["file", "gmail"]
    path: str | None = None
    user: str | None = None
    message_id: str | None = None
    attachment_id: str | None = None
    filename: str | None = None
    sender: str | None = None
    subject: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> DocumentSource:
        if self.kind == "file" and not self.path:
            raise ValueError("a file source needs a path")
        if self.kind == "gmail" and not (self.user and self.message_id and self.attachment_id):
            raise ValueError("a gmail source needs user, message_id and attachment_id")
        return self

    @property
    def display_name(self) -> str:
        if self.kind == "file":
            return self.filename or Path(self.path or "").name
        return self.filename or f"{self.message_id}/{self.attachment_id}"


DocumentKind = Literal["workorder", "signed"]


def file_ingest_workflow_id(kind: DocumentKind, workspace_slug: str, file_sha256: str) -> str:
    """One run per file's content per workspace: the same PDF given twice finds the first run."""
    return f"{kind}/{workspace_slug}/file/{file_sha256}"


def gmail_ingest_workflow_id(
    kind: DocumentKind, workspace_slug: str, user: str, *, message_id: str | None, search_token: str
) -> str:
    """A run over one Gmail message (one per message), or over a search (one per search: `search_token`
    is new each time)."""
    key = f"message/{message_id}" if message_id else f"search/{search_token}"
    return f"{kind}/{workspace_slug}/gmail/{user}/{key}"


def document_child_workflow_id(prefix: str, source: DocumentSource) -> str:
    """The id of the child run that ingests one Gmail attachment of a parent run."""
    return f"{prefix}/{source.message_id}/{source.attachment_id}"


# -- the activities -------------------------------------------------------------------------


class EnsureWorkspaceInput(WorkspaceSpec):
    """The workspace to find, or create from these values (with `create` false: only find it)."""

    create: bool = True


class EnsureWorkspaceResult(BaseModel):
    workspace_id: str
    slug: str
    created: bool


class FindGmailPdfsInput(BaseModel):
    """A mailbox and either one message or a Gmail search (e.g. `has:attachment subject:"work order"`)."""

    user: str
    message_id: str | None = None
    query: str | None = None
    limit: int = 100


class FindGmailPdfsResult(BaseModel):
    documents: list[DocumentSource]
    # What was left out, one line each: a message deleted between the search and its fetch,
    # an attachment over the size limit.
    skipped: list[str] = []


class IngestDocumentInput(BaseModel):
    workspace_id: str
    source: DocumentSource


Outcome = Literal["created", "attached", "duplicate", "failed"]


class IngestWorkOrderResult(BaseModel):
    """created: a new work order; attached: a new file of a known work order; duplicate: this file
    was ingested before; failed: nothing but the failed extraction run was written."""

    filename: str
    file_hash: str
    outcome: Outcome
    is_new: bool
    work_order_id: str | None = None
    work_order_number: str | None = None
    export_enqueued: bool = False
    error: str | None = None
    # What the extraction found but did not store (an ambiguous date, say), a line each.
    warnings: list[str] = Field(default_factory=list)


SignedOutcome = Literal["matched", "unmatched", "refused", "failed"]


class IngestSignedResult(BaseModel):
    filename: str
    file_hash: str
    outcome: SignedOutcome
    is_new: bool
    signed_document_id: str | None = None
    work_order_number: str | None = None
    work_order_id: str | None = None
    reason: str | None = None
    # What the extraction found but did not store (an unreadable signing date, say), a line each.
    warnings: list[str] = Field(default_factory=list)
    export_enqueued: bool = False


# -- the workflows --------------------------------------------------------------------------


class IngestDocumentsInput(BaseModel):
    """One document, or the PDFs of Gmail messages (one message by id, or those a search finds)."""

    workspace: WorkspaceSpec
    document: DocumentSource | None = None
    gmail: FindGmailPdfsInput | None = None
    # With gmail: the children's workflow ids start with this (the parent's id, set by the client; a
    # workflow never derives ids from its own info, which a replay does not reproduce).
    child_id_prefix: str | None = None
    # The export drain to kick when an export job was queued (`export_drain_workflow_id`);
    # None: leave the jobs to the next drain (children leave it to their parent).
    export_drain_id: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> IngestDocumentsInput:
        if (self.document is None) == (self.gmail is None):
            raise ValueError("give exactly one of document or gmail")
        if self.gmail is not None and self.gmail.message_id is None and self.gmail.query is None:
            raise ValueError("gmail needs a message_id or a query")
        if self.gmail is not None and not self.child_id_prefix:
            raise ValueError("gmail needs a child_id_prefix for the runs of its PDFs")
        return self


class WorkOrderIngestResult(BaseModel):
    workspace_id: str
    documents: list[IngestWorkOrderResult]


class SignedIngestResult(BaseModel):
    workspace_id: str
    documents: list[IngestSignedResult]
