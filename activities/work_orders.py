"""Activities of the work-order pipeline: workspaces, work-order PDFs, signed PDFs.

A PDF's bytes never travel through Temporal: the ingest activities fetch the
document themselves (a local file, or a Gmail attachment through the client),
hash it, read it and write the outcome in ONE transaction, so a workflow only
passes where the document is and gets back ids.

Ingestion is idempotent by the sha256 of the file within the workspace: a file
seen before is answered from what is stored (`is_new` false), without reading
it again. The transaction that writes a work order also writes its source, its
extraction run and its export job; a PDF without a work order number writes a
FAILED extraction run and nothing else. A retried activity gets the result its
first, committed attempt stored (`run_once` on the activity's key).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.deps import Deps
from activities.keys import activity_key
from contracts.work_orders import (
    DocumentSource,
    EnsureWorkspaceInput,
    EnsureWorkspaceResult,
    FindGmailPdfsInput,
    FindGmailPdfsResult,
    IngestDocumentInput,
    IngestSignedResult,
    IngestWorkOrderResult,
    SignedOutcome,
)
from core.dates import DateOrder
from core.errors import InvalidInputError, NotFoundError
from db.idempotency import run_once, stored_result
from db.models.work_orders import SignedDocument, Workspace
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import (
    ExtractionRunRepository,
    FmProfileRepository,
    SignedDocumentRepository,
    SignedMatchRepository,
    WorkOrderFields,
    WorkOrderRepository,
    WorkOrderSourceRepository,
    WorkspaceRepository,
)
from db.uow import unit_of_work
from integrations.errors import PermanentIntegrationError
from integrations.pdf_extract import (
    Extraction,
    ExtractionError,
    ProfileRules,
    extract,
    sha256_hex,
)

MAX_PDF_BYTES = 25 * 1024 * 1024

# -- the activities -----------------------------------------------------------------------


class WorkOrderActivities:
    def __init__(self, deps: Deps) -> None:
        self._sessions = deps.sessions
        self._gmail = deps.services.gmail
        self._date_order = deps.settings.date_order  # a bad INTAKE_DATE_ORDER stops the worker here
        self._workspaces = WorkspaceRepository()
        self._profiles = FmProfileRepository()
        self._work_orders = WorkOrderRepository()
        self._sources = WorkOrderSourceRepository()
        self._signed = SignedDocumentRepository()
        self._matches = SignedMatchRepository()
        self._runs = ExtractionRunRepository()
        self._exports = ExportJobRepository()

    @activity.defn(name="work_order_ensure_workspace")
    async def ensure_workspace(self, input: EnsureWorkspaceInput) -> EnsureWorkspaceResult:
        """Get the workspace by slug, or create it with its owner and starter FM profiles.

        With `create` false (signed documents, which only match work orders of an existing
        workspace) a workspace that does not exist is a NotFoundError and nothing is written.
        """
        if not input.create:
            async with self._sessions() as session:
                found = await self._workspaces.find_one(session=session, slug=input.slug)
            if found is None:
                raise NotFoundError(
                    f"no workspace {input.slug!r}: signed documents match work orders of an existing workspace"
                )
            return EnsureWorkspaceResult(workspace_id=str(found.id), slug=found.slug, created=False)
        async with unit_of_work(self._sessions) as session:
            workspace, created = await self._workspaces.get_or_create(
                session=session,
                slug=input.slug,
                name=input.name,
                spreadsheet_id=input.spreadsheet_id,
                owner_user_id=input.owner_user_id,
                team_id=input.team_id,
            )
        return EnsureWorkspaceResult(workspace_id=str(workspace.id), slug=workspace.slug, created=created)

    @activity.defn(name="work_order_find_gmail_pdfs")
    async def find_gmail_pdfs(self, input: FindGmailPdfsInput) -> FindGmailPdfsResult:
        """The PDF attachments of one message, or of every message a search finds (names, not bytes)."""
        if input.message_id is not None:
            message_ids = [input.message_id]
        else:
            refs = await self._gmail.list_messages(input.user, query=input.query, limit=input.limit)
            message_ids = [ref.id for ref in reversed(refs)]  # oldest first
        documents: list[DocumentSource] = []
        skipped: list[str] = []
        for message_id in message_ids:
            try:
                message = await self._gmail.get_message(input.user, message_id)
            except PermanentIntegrationError as err:
                # Deleted since the search listed it: the others still count. One asked for by
                # id is not skipped: its 404 is the answer.
                if err.status != 404 or input.message_id is not None:
                    raise
                activity.logger.warning("Gmail message %s of %s is gone; skipped", message_id, input.user)
                skipped.append(f"message {message_id}: deleted before it was read")
                continue
            for att in message.attachments:
                if not att.is_pdf:
                    continue
                if att.size > MAX_PDF_BYTES:
                    activity.logger.warning(
                        "Gmail attachment %s of message %s is %d bytes; skipped", att.filename, message.id, att.size
                    )
                    skipped.append(
                        f"{att.filename} (message {message.id}): {att.size} bytes, over the {MAX_PDF_BYTES}-byte limit"
                    )
                    continue
                documents.append(
                    DocumentSource(
                        kind="gmail",
                        user=input.user,
                        message_id=message.id,
                        attachment_id=att.attachment_id,
                        filename=att.filename,
                        sender=message.sender,
                        subject=message.subject,
                    )
                )
        return FindGmailPdfsResult(documents=documents, skipped=skipped)

    @activity.defn(name="work_order_ingest")
    async def ingest_work_order(self, input: IngestDocumentInput) -> IngestWorkOrderResult:
        """Fetch, hash, read and store one work-order PDF; see the module's docstring."""
        workspace_id = uuid.UUID(input.workspace_id)
        key = activity_key("work_order_ingest")
        async with self._sessions() as session:
            # A retry after this execution's commit answers what the commit stored (its file is
            # "known" by now, but that is this execution's own work, not a duplicate).
            if (done := await stored_result(session, key, IngestWorkOrderResult)) is not None:
                return done
        data = await self._fetch(input.source)
        file_hash = sha256_hex(data)
        name = input.source.display_name
        async with self._sessions() as session:
            workspace = await self._workspace(session, workspace_id)
            known = await self._known_work_order_file(session, workspace_id, file_hash, name)
            profiles = await self._profile_rules(session, workspace_id)
        if known is not None:
            # Known: by an earlier execution, or by this one's earlier attempt if it committed
            # since the first look (an attempt that timed out but still ran). Look again.
            async with self._sessions() as session:
                done = await stored_result(session, key, IngestWorkOrderResult)
            return done or known
        extraction, error, elapsed_ms = await _extract(data, profiles, input.source.sender, self._date_order)

        async def write(session: AsyncSession) -> IngestWorkOrderResult:
            await self._work_orders.lock_document(workspace_id, file_hash, session=session)
            run = {
                "workspace_id": workspace_id,
                "kind": "WORK_ORDER",
                "file_hash": file_hash,
                "filename": name,
                "duration_ms": elapsed_ms,
                "workflow_id": activity.info().workflow_id,
            }
            if extraction is None:
                await self._runs.create(session=session, outcome="FAILED", error=error, **run)
                return IngestWorkOrderResult(
                    filename=name, file_hash=file_hash, outcome="failed", is_new=False, error=error
                )
            if (known := await self._known_work_order_file(session, workspace_id, file_hash, name)) is not None:
                return known
            fields = extraction.fields
            # The same write as a batch's rows: the work order by its number, its export job.
            [work_order] = await self._work_orders.ingest(
                workspace,
                [
                    WorkOrderFields(
                        work_order_number=fields.work_order_number,
                        fm_key=extraction.fm_key,
                        facility_manager=fields.facility_manager,
                        site=fields.site,
                        scheduled_date=fields.scheduled_date,
                        amount=fields.amount,
                        description=fields.description,
                    )
                ],
                session=session,
            )
            await self._sources.create(
                session=session,
                workspace_id=workspace_id,
                work_order_id=work_order.work_order_id,
                source_type=input.source.kind.upper(),
                file_hash=file_hash,
                filename=name,
                source_metadata=_source_metadata(input.source),
            )
            await self._runs.create(
                session=session,
                outcome="SUCCEEDED",
                fm_key=extraction.fm_key,
                work_order_id=work_order.work_order_id,
                fields=fields.model_dump(mode="json"),
                text_chars=extraction.text_chars,
                warnings=[warning.model_dump() for warning in extraction.warnings],
                **run,
            )
            return IngestWorkOrderResult(
                filename=name,
                file_hash=file_hash,
                outcome="created" if work_order.is_new else "attached",
                is_new=work_order.is_new,
                work_order_id=str(work_order.work_order_id),
                work_order_number=work_order.work_order_number,
                export_enqueued=work_order.export_enqueued,
                warnings=_warning_lines(extraction),
            )

        async with unit_of_work(self._sessions) as session:
            once = await run_once(session, key, write, result_type=IngestWorkOrderResult, scope="work_order_ingest")
        return once.value

    @activity.defn(name="work_order_ingest_signed")
    async def ingest_signed(self, input: IngestDocumentInput) -> IngestSignedResult:
        """Store one signed PDF and match it 1:1 to its work order by number.

        A PDF without signature evidence (neither a signer nor a signing date read) is not
        a signed document: it is refused with only its FAILED extraction run written.

        A work order that already has a signed document keeps it: the newcomer is
        stored as REFUSED with the reason. One without its work order (not yet
        ingested) is stored as UNMATCHED and matched when it is ingested again.
        """
        workspace_id = uuid.UUID(input.workspace_id)
        data = await self._fetch(input.source)
        file_hash = sha256_hex(data)
        name = input.source.display_name
        async with self._sessions() as session:
            workspace = await self._workspace(session, workspace_id)
            document = await self._signed.by_hash(workspace_id, file_hash, session=session)
            profiles = await self._profile_rules(session, workspace_id)
        extraction: Extraction | None = None
        error: str | None = None
        elapsed_ms = 0
        if document is None:
            extraction, error, elapsed_ms = await _extract(data, profiles, input.source.sender, self._date_order)

        async def write(session: AsyncSession) -> IngestSignedResult:
            await self._work_orders.lock_document(workspace_id, file_hash, session=session)
            existing = await self._signed.by_hash(workspace_id, file_hash, session=session)
            if existing is not None:
                if existing.match_status == "UNMATCHED":
                    return await self._match(session, workspace, existing, is_new=False)
                return await self._signed_result(session, existing, is_new=False)
            run = {
                "workspace_id": workspace_id,
                "kind": "SIGNED_DOCUMENT",
                "file_hash": file_hash,
                "filename": name,
                "duration_ms": elapsed_ms,
                "workflow_id": activity.info().workflow_id,
            }
            if extraction is None:
                await self._runs.create(session=session, outcome="FAILED", error=error, **run)
                return IngestSignedResult(
                    filename=name, file_hash=file_hash, outcome="failed", is_new=False, reason=error
                )
            fields = extraction.fields
            if not fields.signed_by and not fields.signed_on:
                # No signer and no signing date: an unsigned work order, say, not its signed
                # copy. Only the (failed) extraction run is written; the work order stays as it is.
                reason = (
                    f"no signature found: {name} has no 'Signed by' or 'Signed date' line, "
                    "so it is not a signed document"
                )
                await self._runs.create(
                    session=session,
                    outcome="FAILED",
                    error=reason,
                    fm_key=extraction.fm_key,
                    fields=fields.model_dump(mode="json"),
                    text_chars=extraction.text_chars,
                    warnings=[warning.model_dump() for warning in extraction.warnings],
                    **run,
                )
                return IngestSignedResult(
                    filename=name,
                    file_hash=file_hash,
                    outcome="refused",
                    is_new=False,
                    work_order_number=fields.work_order_number,
                    reason=reason,
                    warnings=_warning_lines(extraction),
                )
            document = await self._signed.create(
                session=session,
                workspace_id=workspace_id,
                file_hash=file_hash,
                filename=name,
                source_type=input.source.kind.upper(),
                source_metadata=_source_metadata(input.source),
                fm_key=extraction.fm_key,
                extracted_work_order_number=fields.work_order_number,
                signed_by=fields.signed_by,
                signed_on=fields.signed_on,
                match_status="UNMATCHED",
            )
            await self._runs.create(
                session=session,
                outcome="SUCCEEDED",
                fm_key=extraction.fm_key,
                signed_document_id=document.id,
                fields=fields.model_dump(mode="json"),
                text_chars=extraction.text_chars,
                warnings=[warning.model_dump() for warning in extraction.warnings],
                **run,
            )
            matched = await self._match(session, workspace, document, is_new=True)
            return matched.model_copy(update={"warnings": _warning_lines(extraction)})

        async with unit_of_work(self._sessions) as session:
            once = await run_once(
                session,
                activity_key("work_order_ingest_signed"),
                write,
                result_type=IngestSignedResult,
                scope="work_order_ingest_signed",
            )
        return once.value

    # -- helpers ----------------------------------------------------------------------------

    async def _match(
        self, session: AsyncSession, workspace: Workspace, document: SignedDocument, *, is_new: bool
    ) -> IngestSignedResult:
        number = document.extracted_work_order_number
        work_order = await self._work_orders.by_number(workspace.id, number, session=session)
        enqueued = False
        if work_order is None:
            status, reason = "UNMATCHED", f"workspace {workspace.slug!r} has no work order {number} (yet)"
        else:
            match = await self._matches.claim(work_order.id, document.id, session=session)
            if match.signed_document_id == document.id:
                status, reason = "MATCHED", None
                await self._work_orders.update_by_id(
                    work_order.id, session=session, status="SIGNED", signed_at=func.now()
                )
                if workspace.spreadsheet_id:
                    enqueued = await self._exports.enqueue(
                        session=session,
                        workspace_id=workspace.id,
                        kind="SIGNED_DOCUMENT",
                        signed_document_id=document.id,
                    )
            else:
                status = "REFUSED"
                reason = (
                    f"work order {number} is already matched to signed document "
                    f"{match.signed_document_id}; a second signed document is refused, not swapped in"
                )
        await self._signed.update_by_id(document.id, session=session, match_status=status, match_reason=reason)
        document.match_status, document.match_reason = status, reason
        result = await self._signed_result(session, document, is_new=is_new)
        return result.model_copy(update={"export_enqueued": enqueued})

    async def _signed_result(
        self, session: AsyncSession, document: SignedDocument, *, is_new: bool
    ) -> IngestSignedResult:
        match = await self._matches.for_document(document.id, session=session)
        outcome: SignedOutcome = document.match_status.lower()  # type: ignore[assignment]
        return IngestSignedResult(
            filename=document.filename,
            file_hash=document.file_hash,
            outcome=outcome,
            is_new=is_new,
            signed_document_id=str(document.id),
            work_order_number=document.extracted_work_order_number,
            work_order_id=str(match.work_order_id) if match else None,
            reason=document.match_reason,
        )

    async def _known_work_order_file(
        self, session: AsyncSession, workspace_id: uuid.UUID, file_hash: str, name: str
    ) -> IngestWorkOrderResult | None:
        source = await self._sources.by_hash(workspace_id, file_hash, session=session)
        if source is None:
            return None
        work_order = await self._work_orders.find_by_id(source.work_order_id, session=session)
        assert work_order is not None
        return IngestWorkOrderResult(
            filename=name,
            file_hash=file_hash,
            outcome="duplicate",
            is_new=False,
            work_order_id=str(work_order.id),
            work_order_number=work_order.work_order_number,
        )

    async def _workspace(self, session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
        workspace = await self._workspaces.find_by_id(workspace_id, session=session)
        if workspace is None:
            raise NotFoundError(f"workspace {workspace_id} does not exist")
        return workspace

    async def _profile_rules(self, session: AsyncSession, workspace_id: uuid.UUID) -> list[ProfileRules]:
        rows = await self._profiles.for_workspace(workspace_id, session=session)
        return [ProfileRules.model_validate(row, from_attributes=True) for row in rows]

    async def _fetch(self, source: DocumentSource) -> bytes:
        if source.kind == "file":
            path = Path(source.path or "")
            try:
                return await asyncio.to_thread(_read_local_pdf, path)
            except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
                raise InvalidInputError(f"cannot read {path}: {err.strerror or err}") from err
        assert source.user and source.message_id and source.attachment_id
        data = await self._gmail.get_attachment(source.user, source.message_id, source.attachment_id)
        if len(data) > MAX_PDF_BYTES:
            raise InvalidInputError(f"{source.display_name} is {len(data)} bytes; at most {MAX_PDF_BYTES} are read")
        return data


async def _extract(
    data: bytes, profiles: list[ProfileRules], sender: str | None, date_order: DateOrder | None
) -> tuple[Extraction | None, str | None, int]:
    """Read the PDF in a thread (pypdf is CPU-bound): (extraction, None, ms) or (None, reason, ms)."""
    started = time.perf_counter()
    try:
        extraction = await asyncio.to_thread(extract, data, profiles, sender=sender, default_date_order=date_order)
        return extraction, None, int((time.perf_counter() - started) * 1000)
    except ExtractionError as err:
        return None, str(err), int((time.perf_counter() - started) * 1000)


def _source_metadata(source: DocumentSource) -> dict[str, str]:
    fields = ("path", "user", "message_id", "attachment_id", "sender", "subject")
    return {name: value for name in fields if (value := getattr(source, name))}


def _read_local_pdf(path: Path) -> bytes:
    """The file's bytes, refused with InvalidInputError when it is over MAX_PDF_BYTES (in a thread)."""
    size = path.stat().st_size
    if size > MAX_PDF_BYTES:
        raise InvalidInputError(f"{path} is {size} bytes; at most {MAX_PDF_BYTES} are read")
    return path.read_bytes()


def _warning_lines(extraction: Extraction) -> list[str]:
    """What the extraction found but did not store, a line each, for the ingestion's result."""
    return [warning.line() for warning in extraction.warnings]
