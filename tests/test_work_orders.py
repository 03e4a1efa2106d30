"""Work-order and signed-document ingestion: real Temporal, real PostgreSQL, Gmail in the sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import ActivityEnvironment

import activities.work_orders as work_order_activities
from activities.deps import Deps
from activities.work_orders import WorkOrderActivities
from client.runs import failure_error
from client.work_orders import start_file_ingest, start_gmail_ingest
from contracts.work_orders import (
    DocumentKind,
    DocumentSource,
    EnsureWorkspaceInput,
    FindGmailPdfsInput,
    IngestDocumentInput,
    WorkspaceSpec,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from db.models.work_orders import (
    ExportJob,
    ExtractionRun,
    SignedDocument,
    SignedMatch,
    WorkOrder,
    WorkOrderSource,
    Workspace,
)
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import (
    SignedMatchRepository,
    WorkOrderFields,
    WorkOrderRepository,
    WorkspaceRepository,
)
from db.repository import Repository
from db.uow import unit_of_work
from integrations.gmail import GmailApi, GmailMessageRef
from sandbox.control import SandboxControl
from sandbox.pdf import text_pdf
from sandbox.seed_mail import (
    SPREADSHEET_ID,
    WORK_ORDERS,
    signed_work_order_pdf,
    work_order_pdf,
)
from tests.helpers import record_history
from worker import build_worker
from workflows.search_attributes import WORK_ORDER_ID

OPS = "ops@example.com"
WORK_ORDER_MAIL = 'has:attachment subject:"work order"'


class DeletesOneAfterListing:
    """The real Gmail client (against the sandbox), except that right after a search the user deletes
    one of the messages it found: the second oldest."""

    def __init__(self, gmail: GmailApi, sandbox: SandboxControl) -> None:
        self._gmail, self._sandbox = gmail, sandbox

    async def list_messages(
        self, user: str, *, query: str | None = None, label_ids: tuple[str, ...] = ("INBOX",), limit: int | None = None
    ) -> list[GmailMessageRef]:
        refs = await self._gmail.list_messages(user, query=query, label_ids=label_ids, limit=limit)
        await self._sandbox.delete_mail(user, refs[-2].id)  # newest first
        return refs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gmail, name)


def workspace(**values: str) -> WorkspaceSpec:
    return WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID, owner_user_id="u1", **values)


def ensure(spec: WorkspaceSpec) -> EnsureWorkspaceInput:
    """The ensure_workspace activity's input for `spec`, as the ingest workflows build it."""
    return EnsureWorkspaceInput(**spec.model_dump())


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def count(sessions: async_sessionmaker[AsyncSession], model: type, **filters: Any) -> int:
    async with sessions() as session:
        return await Repository(model).count(session=session, **filters)


async def test_the_same_pdf_twice_is_one_work_order_one_source_one_export_job(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    pdf = write(tmp_path, "WO-10042.pdf", work_order_pdf(WORK_ORDERS[0]))
    ws = workspace()
    async with make_worker():
        first = await (
            await start_file_ingest(
                client, pdf, workspace=ws, kind="workorder", task_queue=task_queue, drain_exports=False
            )
        ).result()
        handle = await start_file_ingest(
            client, pdf, workspace=ws, kind="workorder", task_queue=task_queue, drain_exports=False
        )
        second = await handle.result()
        await record_history(handle, "work_order_ingest")
        described = await handle.describe()

    [created], [repeat] = first.documents, second.documents
    assert (created.outcome, created.is_new, created.export_enqueued) == ("created", True, True)
    assert (repeat.outcome, repeat.is_new, repeat.export_enqueued) == ("duplicate", False, False)
    assert repeat.work_order_id == created.work_order_id and repeat.file_hash == created.file_hash
    assert described.typed_search_attributes.get(WORK_ORDER_ID) == "WO-10042"
    assert await count(sessions, WorkOrder) == 1
    assert await count(sessions, WorkOrderSource) == 1
    assert await count(sessions, ExportJob) == 1
    assert await count(sessions, ExtractionRun, outcome="SUCCEEDED") == 1  # the repeat did not read it again
    async with sessions() as session:
        order = await WorkOrderRepository().find_by_id(uuid.UUID(created.work_order_id), session=session)
    assert order is not None and order.scheduled_date is not None
    assert (order.site, str(order.amount), order.scheduled_date.isoformat(), order.fm_key) == (
        "12 Harbour Street, Dockside",
        "1250.00",
        "2024-06-10",
        "acme",
    )  # by its text marker


async def test_a_retried_ingest_activity_gets_its_first_attempts_result(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """Attempt 2 of the same activity execution, after attempt 1 committed: the stored answer, not 'duplicate'."""
    activities = WorkOrderActivities(deps)
    ref = await ActivityEnvironment().run(activities.ensure_workspace, ensure(workspace()))
    pdf = write(tmp_path, "WO-10042.pdf", work_order_pdf(WORK_ORDERS[0]))
    input = IngestDocumentInput(
        workspace_id=ref.workspace_id, source=DocumentSource(kind="file", path=str(pdf), filename=pdf.name)
    )
    env = ActivityEnvironment()
    info = dataclasses.replace(env.info, workflow_id=f"wf-{uuid.uuid4()}", activity_id="1")
    env.info = info
    first = await env.run(activities.ingest_work_order, input)
    env.info = dataclasses.replace(info, attempt=2)
    retried = await env.run(activities.ingest_work_order, input)

    assert (first.outcome, first.is_new, first.export_enqueued) == ("created", True, True)
    assert retried == first
    # Another execution (a new workflow run) of the same file is the duplicate.
    env.info = dataclasses.replace(info, workflow_id=f"wf-{uuid.uuid4()}")
    other = await env.run(activities.ingest_work_order, input)
    assert (other.outcome, other.is_new, other.work_order_id) == ("duplicate", False, first.work_order_id)
    assert await count(sessions, WorkOrderSource) == 1 and await count(sessions, ExportJob) == 1


async def test_a_new_pdf_of_a_known_work_order_is_attached_to_it(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    order = WORK_ORDERS[0]
    revised = dataclasses.replace(order, description=order.description + " (revised)")
    ws = workspace()
    async with make_worker():
        results = [
            (
                await (
                    await start_file_ingest(
                        client,
                        write(tmp_path, name, data),
                        workspace=ws,
                        kind="workorder",
                        task_queue=task_queue,
                        drain_exports=False,
                    )
                ).result()
            ).documents[0]
            for name, data in (("wo.pdf", work_order_pdf(order)), ("wo-v2.pdf", work_order_pdf(revised)))
        ]
    created, attached = results
    assert (created.outcome, created.is_new, created.export_enqueued) == ("created", True, True)
    assert (attached.outcome, attached.is_new, attached.export_enqueued) == ("attached", False, False)
    assert attached.work_order_id == created.work_order_id and attached.file_hash != created.file_hash
    assert await count(sessions, WorkOrder) == 1 and await count(sessions, WorkOrderSource) == 2
    assert await count(sessions, ExportJob) == 1


async def test_the_same_pdf_belongs_to_two_workspaces_once_each(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    pdf = write(tmp_path, "wo.pdf", work_order_pdf(WORK_ORDERS[1]))
    async with make_worker():
        results = [
            await (
                await start_file_ingest(
                    client, pdf, workspace=ws, kind="workorder", task_queue=task_queue, drain_exports=False
                )
            ).result()
            for ws in (workspace(), workspace())
        ]
    assert [r.documents[0].outcome for r in results] == ["created", "created"]
    assert results[0].workspace_id != results[1].workspace_id
    assert await count(sessions, WorkOrderSource) == 2 and await count(sessions, WorkOrder) == 2


async def test_pdfs_without_a_work_order_number_are_recorded_failures(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    files = {
        "invoice.pdf": text_pdf(["INVOICE", "Total: 120.00"]),  # a PDF, but no work order number
        "broken.pdf": b"%PDF-1.4\nthis is not really a pdf",
        "notes.pdf": b"just text with a .pdf name",
    }
    ws = workspace()
    async with make_worker():
        results = [
            await (
                await start_file_ingest(
                    client, write(tmp_path, name, data), workspace=ws, kind="workorder", task_queue=task_queue
                )
            ).result()
            for name, data in files.items()
        ]
    outcomes = {r.documents[0].filename: r.documents[0] for r in results}
    assert {name: doc.outcome for name, doc in outcomes.items()} == dict.fromkeys(files, "failed")
    assert "no work order number" in (outcomes["invoice.pdf"].error or "")
    assert "not a readable PDF" in (outcomes["broken.pdf"].error or "")
    assert "not a PDF" in (outcomes["notes.pdf"].error or "")
    assert await count(sessions, ExtractionRun, outcome="FAILED") == 3
    async with sessions() as session:
        runs = await Repository(ExtractionRun).find_many(session=session)
    assert all(run.error and run.work_order_id is None for run in runs)
    # Nothing half written.
    for model in (WorkOrder, WorkOrderSource, ExportJob):
        assert await count(sessions, model) == 0


async def test_gmail_messages_become_work_orders_once_each(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    """The ops mailbox: four work orders in three mails, and WO-10042 forwarded a second time."""
    ws = workspace()
    async with make_worker():
        handle = await start_gmail_ingest(
            client,
            workspace=ws,
            kind="workorder",
            user=OPS,
            query='has:attachment subject:"work order"',
            task_queue=task_queue,
            drain_exports=False,
        )
        result = await handle.result()
        await record_history(handle, "work_order_ingest_gmail")
    # Oldest mail first: the forwarded copy of WO-10042, the last mail, is the duplicate.
    outcomes = [(d.work_order_number, d.outcome) for d in result.documents]
    assert outcomes == [
        ("WO-10042", "created"),
        ("WO-10043", "created"),
        ("WO-10044", "created"),
        ("WO-10045", "created"),
        ("WO-10042", "duplicate"),
    ]
    assert await count(sessions, WorkOrder) == 4 and await count(sessions, ExportJob) == 4
    async with sessions() as session:
        acme = await Repository(WorkOrder).find_one(session=session, work_order_number="WO-10043")
        northwind = await Repository(WorkOrder).find_one(session=session, work_order_number="WO-10044")
    assert acme is not None and northwind is not None
    assert (acme.fm_key, northwind.fm_key) == ("acme", "northwind")  # chosen by the sender's domain


async def test_a_mail_deleted_between_the_search_and_its_fetch_is_skipped(
    client: Client,
    deps: Deps,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    services = dataclasses.replace(deps.services, gmail=DeletesOneAfterListing(deps.services.gmail, sandbox))
    deleting = dataclasses.replace(deps, services=services)
    found = await ActivityEnvironment().run(
        WorkOrderActivities(deleting).find_gmail_pdfs, FindGmailPdfsInput(user=OPS, query=WORK_ORDER_MAIL)
    )
    assert [d.filename for d in found.documents] == ["WO-10042.pdf", "WO-10044.pdf", "WO-10045.pdf", "WO-10042.pdf"]
    assert len(found.skipped) == 1 and "deleted" in found.skipped[0]

    # Through the workflow: the rest of the mailbox is imported.
    await sandbox.reset(seed=0)
    async with build_worker(client, deleting, task_queue=task_queue):
        result = await (
            await start_gmail_ingest(
                client,
                workspace=workspace(),
                kind="workorder",
                user=OPS,
                query=WORK_ORDER_MAIL,
                task_queue=task_queue,
                drain_exports=False,
            )
        ).result()
    assert [(d.work_order_number, d.outcome) for d in result.documents] == [
        ("WO-10042", "created"),
        ("WO-10044", "created"),
        ("WO-10045", "created"),
        ("WO-10042", "duplicate"),
    ]
    assert await count(sessions, WorkOrder) == 3


async def test_gmail_attachments_over_the_size_limit_are_not_read(
    deps: Deps,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(work_order_activities, "MAX_PDF_BYTES", 100)  # the seed PDFs are larger
    activities = WorkOrderActivities(deps)
    found = await ActivityEnvironment().run(
        activities.find_gmail_pdfs, FindGmailPdfsInput(user=OPS, query=WORK_ORDER_MAIL)
    )
    assert found.documents == [] and len(found.skipped) == 5
    assert all("over the 100-byte limit" in line for line in found.skipped)
    # A source that got past the listing (an older run's) is refused by the fetch itself.
    ref = await ActivityEnvironment().run(activities.ensure_workspace, ensure(workspace()))
    message = (await deps.services.gmail.list_messages(OPS, query=WORK_ORDER_MAIL))[0]
    attachment = (await deps.services.gmail.get_message(OPS, message.id)).attachments[0]
    source = DocumentSource(kind="gmail", user=OPS, message_id=message.id, attachment_id=attachment.attachment_id)
    with pytest.raises(InvalidInputError, match="at most 100 are read"):
        await ActivityEnvironment().run(
            activities.ingest_work_order, IngestDocumentInput(workspace_id=ref.workspace_id, source=source)
        )
    assert await count(sessions, WorkOrderSource) == 0


async def test_a_signed_document_matches_its_work_order_and_a_second_one_is_refused(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    order = WORK_ORDERS[0]
    ws = workspace()
    signed = write(tmp_path, "signed.pdf", signed_work_order_pdf(order, "Jordan Lee", "2024-06-14"))
    other = write(tmp_path, "signed-again.pdf", signed_work_order_pdf(order, "Sam Poe", "2024-06-20"))
    early = write(tmp_path, "early.pdf", signed_work_order_pdf(WORK_ORDERS[1], "Ann Bo", "2024-06-15"))
    async with unit_of_work(sessions) as session:  # signed documents need an existing workspace
        await WorkspaceRepository().get_or_create(session=session, slug=ws.slug, spreadsheet_id=ws.spreadsheet_id)
    async with make_worker():

        async def ingest(path: Path, kind: DocumentKind):
            return (
                await (
                    await start_file_ingest(
                        client, path, workspace=ws, kind=kind, task_queue=task_queue, drain_exports=False
                    )
                ).result()
            ).documents[0]

        unmatched = await ingest(early, "signed")  # before its work order
        await ingest(write(tmp_path, "wo.pdf", work_order_pdf(order)), "workorder")
        signed_run = await start_file_ingest(
            client, signed, workspace=ws, kind="signed", task_queue=task_queue, drain_exports=False
        )
        [matched] = (await signed_run.result()).documents
        await record_history(signed_run, "signed_document_ingest")
        refused = await ingest(other, "signed")
        repeat = await ingest(signed, "signed")
        await ingest(write(tmp_path, "wo2.pdf", work_order_pdf(WORK_ORDERS[1])), "workorder")
        late_match = await ingest(early, "signed")

    assert (unmatched.outcome, unmatched.is_new) == ("unmatched", True)
    assert "no work order WO-10043" in (unmatched.reason or "")
    assert (matched.outcome, matched.is_new, matched.export_enqueued) == ("matched", True, True)
    assert (refused.outcome, refused.is_new) == ("refused", True)
    assert f"already matched to signed document {matched.signed_document_id}" in (refused.reason or "")
    assert (repeat.outcome, repeat.is_new, repeat.signed_document_id) == ("matched", False, matched.signed_document_id)
    assert (late_match.outcome, late_match.is_new) == ("matched", False)
    # The refusal is recorded, and the first link stands.
    async with sessions() as session:
        documents = {d.filename: d for d in await Repository(SignedDocument).find_many(session=session)}
        links = await Repository(SignedMatch).find_many(session=session)
        work_order = await WorkOrderRepository().find_by_id(uuid.UUID(matched.work_order_id), session=session)
    assert documents["signed-again.pdf"].match_status == "REFUSED"
    assert len(documents) == 3 and len(links) == 2
    assert {str(link.signed_document_id) for link in links} >= {matched.signed_document_id}
    assert work_order is not None
    assert work_order.status == "SIGNED" and work_order.signed_at is not None
    assert documents["signed.pdf"].signed_by == "Jordan Lee"


async def test_signed_match_is_one_to_one_both_ways_in_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The constraints themselves: a work order has one signed document, a document one work order."""
    async with unit_of_work(sessions) as session:
        ws, _ = await WorkspaceRepository().get_or_create(session=session, slug="one-to-one")
        orders = [
            (await WorkOrderRepository().get_or_create(session=session, workspace_id=ws.id, work_order_number=n))[0]
            for n in ("A-1", "A-2")
        ]
        docs = [
            await Repository(SignedDocument).create(
                session=session,
                workspace_id=ws.id,
                file_hash=h,
                filename=h,
                source_type="FILE",
                extracted_work_order_number="A-1",
                match_status="UNMATCHED",
            )
            for h in ("h1", "h2")
        ]
        first = await SignedMatchRepository().claim(orders[0].id, docs[0].id, session=session)
        # A second document for the same work order: the claim returns the first link, untouched.
        again = await SignedMatchRepository().claim(orders[0].id, docs[1].id, session=session)
        assert first.signed_document_id == again.signed_document_id == docs[0].id
    # The same document for a second work order: refused by the unique key.
    with pytest.raises(ConflictError, match="signed_document_id"):
        async with unit_of_work(sessions) as session:
            await Repository(SignedMatch).create(
                session=session, work_order_id=orders[1].id, signed_document_id=docs[0].id
            )
    async with sessions() as session:
        assert await ExportJobRepository().count(session=session) == 0
        assert await Repository(SignedMatch).count(session=session) == 1


async def test_a_signed_document_never_creates_its_workspace(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    """Started without the client's check (an older client, the API): the run fails, nothing is written."""
    ws = workspace()
    signed = write(tmp_path, "signed.pdf", signed_work_order_pdf(WORK_ORDERS[0], "Jordan Lee", "2024-06-14"))
    async with make_worker():
        run = await start_file_ingest(client, signed, workspace=ws, kind="signed", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await run.result()
    refusal = failure_error(failed.value)
    assert isinstance(refusal, NotFoundError) and f"no workspace {ws.slug!r}" in str(refusal)
    assert await count(sessions, Workspace, slug=ws.slug) == 0
    assert await count(sessions, SignedDocument) == await count(sessions, ExtractionRun) == 0


async def test_an_unsigned_work_order_is_not_accepted_as_its_signed_document(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    ws = workspace()
    pdf = write(tmp_path, "WO-10042.pdf", work_order_pdf(WORK_ORDERS[0]))
    async with make_worker():
        [created] = (
            await (
                await start_file_ingest(
                    client, pdf, workspace=ws, kind="workorder", task_queue=task_queue, drain_exports=False
                )
            ).result()
        ).documents
        # The work order's own, unsigned PDF given as its signed document.
        [unsigned] = (
            await (
                await start_file_ingest(
                    client, pdf, workspace=ws, kind="signed", task_queue=task_queue, drain_exports=False
                )
            ).result()
        ).documents

    assert (unsigned.outcome, unsigned.is_new, unsigned.signed_document_id) == ("refused", False, None)
    assert "no signature found" in (unsigned.reason or "")
    assert await count(sessions, SignedDocument) == await count(sessions, SignedMatch) == 0
    async with sessions() as session:
        work_order = await WorkOrderRepository().find_by_id(uuid.UUID(created.work_order_id or ""), session=session)
        runs = await Repository(ExtractionRun).find_many(session=session, kind="SIGNED_DOCUMENT")
    assert work_order is not None and work_order.status != "SIGNED" and work_order.signed_at is None
    assert await count(sessions, ExportJob, kind="SIGNED_DOCUMENT") == 0
    assert [(run.outcome, run.signed_document_id) for run in runs] == [("FAILED", None)]
    assert "no signature found" in (runs[0].error or "")


async def test_ingest_waits_for_a_concurrent_ingestion_of_the_same_number_and_takes_its_work_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Ingestion matches known numbers first, then inserts the rest without ON CONFLICT; a number
    another transaction commits in between makes that insert fail on the unique key, and the
    ingestion then takes the other's work order, inserting only what is still new."""
    repo = WorkOrderRepository()
    async with unit_of_work(sessions) as session:
        ws, _ = await WorkspaceRepository().get_or_create(session=session, slug="race")
    async with sessions() as first, sessions() as second:
        async with first.begin():
            [theirs] = await repo.ingest(ws, [WorkOrderFields("WO-RACE-1", site="first")], session=first)
            pid = await first.scalar(text("SELECT pg_backend_pid()"))

            async def ingest_second() -> list[Any]:
                async with second.begin():
                    return await repo.ingest(
                        ws, [WorkOrderFields("WO-RACE-1", site="second"), WorkOrderFields("WO-RACE-2")], session=second
                    )

            racing = asyncio.create_task(ingest_second())
            # The second ingestion found no WO-RACE-1 and waits on the first's uncommitted row.
            async with sessions() as watcher:
                for _ in range(500):
                    blocked = await watcher.scalar(
                        text("SELECT count(*) FROM pg_locks WHERE NOT granted AND :pid = ANY(pg_blocking_pids(pid))"),
                        {"pid": pid},
                    )
                    if blocked:
                        break
                    await asyncio.sleep(0.01)
            assert blocked, "the second ingestion never waited for the first"
        one, two = await racing
    assert (one.work_order_id, one.is_new) == (theirs.work_order_id, False)
    assert two.is_new and two.work_order_id != theirs.work_order_id
    async with sessions() as session:
        rows = (
            await session.execute(
                select(WorkOrder.work_order_number, WorkOrder.site).where(WorkOrder.workspace_id == ws.id)
            )
        ).all()
        assert sorted(rows) == [("WO-RACE-1", "first"), ("WO-RACE-2", None)]
        assert await session.scalar(select(func.count()).select_from(WorkOrder)) == 2
