"""The web dashboard in a real browser: headless Chromium (Playwright) against the real app under uvicorn,
real PostgreSQL and Temporal, a worker on the test's queue and the sandbox for the outside services.

Each test saves screenshots of the pages it passes through (docs/screenshots/, shown in the README).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from client.api_tokens import create_token
from client.batches import start_batch_import, store_batch
from client.discussions import start_discussion
from client.signals import queue_tool_call, register_user, start_ingestion
from contracts.approvals import QueueToolCallInput
from contracts.discussions import DiscussionInput
from contracts.work_orders import WorkspaceSpec
from core.settings import Settings
from db.models.discussions import Job
from db.models.mirror import Execution
from db.models.signals import FeedbackEntry, GmailDraft
from db.models.work_orders import ExportJob
from db.repositories.exports import ExportJobRepository
from db.repositories.work_orders import WorkOrderRepository, WorkspaceRepository
from db.repository import Repository
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID, WORK_ORDERS
from tests.browser import LiveServer, launch_chromium, shoot
from tests.test_batches import EXPECTED_ERRORS, sample_file
from tests.test_mirror import attempts_settled, feed_for, final_execution

CHECKOUT = "C0PRODUCT:1718010000.000100"  # the sandbox's Slack thread with four action items
RENEWAL = "Decision needed: analytics contract renewal"
REFUND = "Refund request for order #4411"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        yield browser
        await browser.close()


# The tests' Temporal runs without its Web UI; the pages link runs to where a UI would be, through
# core.temporal.ui_link (whose links tests/test_intake_up.py opens in the embedded stack's real UI).
TEMPORAL_UI = "http://127.0.0.1:8233"


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async with LiveServer(settings.model_copy(update={"temporal_ui_url": TEMPORAL_UI})) as server:
        yield server


@pytest.fixture
async def context(browser: Browser, live: LiveServer) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(15_000)
    yield context
    await context.close()


async def token_of(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    token, _ = await create_token(sessions, team_id=team, name="browser")
    return token


async def sign_in(page: Page, token: str) -> None:
    await page.goto("/ui/")
    await page.fill("#token", token)
    await page.click("button:has-text('Sign in')")
    await expect(page.locator("h1")).to_have_text("Inbox")


@pytest.fixture
async def page(context: BrowserContext, sessions: async_sessionmaker[AsyncSession], team: str) -> Page:
    page = await context.new_page()
    await sign_in(page, await token_of(sessions, team))
    return page


async def team_user(sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    """A signal user of `team`, with the sandbox's mailbox."""
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    await register_user(sessions, user_id=user_id, mailbox="alice@example.com", team_id=team)
    return user_id


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.5)


async def test_sign_in_with_a_team_token_then_the_inbox_lists_the_queue(
    browser: Browser,
    live: LiveServer,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    user = await team_user(sessions, team)
    async with make_worker():
        await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
    context = await browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        first = await page.goto("/ui/inbox")
        assert first is not None and first.url.endswith("/ui/sign-in?next=%2Fui%2Finbox")
        await shoot(page, "sign-in")
        await page.fill("#token", "itk_not-a-token")
        await page.click("button:has-text('Sign in')")
        await expect(page.locator(".notice-error")).to_contain_text("that token is unknown or revoked")

        await page.fill("#token", await token_of(sessions, team))
        await page.click("button:has-text('Sign in')")
        await expect(page.locator("h1")).to_have_text("Inbox")
        await expect(page.locator("header .team")).to_have_text(team)
        cookie = next(c for c in await context.cookies() if c["name"] == "intake_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"

        queue = page.locator("#queue li.card")
        await expect(queue.first).to_be_visible()
        summaries = await page.locator("#queue .summary").all_inner_texts()
        assert RENEWAL in summaries and REFUND in summaries
        # Tier, score and the gates that passed (with why, on hover) are on each card.
        card = page.locator("#queue li.card", has_text=RENEWAL)
        await expect(card.locator(".chip.tier")).to_have_text(re.compile("critical|important|later"))
        assert (await card.locator(".score").inner_text()).isdigit()
        assert await card.locator(".chip.gate").count() >= 1
        assert await card.locator(".chip.gate").first.get_attribute("title")
        # The queue refreshes itself every 30 s with htmx, without a full reload.
        await expect(page.locator("#queue")).to_have_attribute("hx-trigger", "every 30s")
        # What that refresh does, done now: a tool call queued meanwhile appears, the page not reloaded.
        async with make_worker():
            await queue_tool_call(
                client,
                QueueToolCallInput(
                    user_id=user,
                    call_id="refresh-1",
                    action_type="draft_reply",
                    summary="Reply to the auditors",
                    payload={"to": "audit@example.com", "subject": "Re: audit", "body": "Monday works."},
                ),
                task_queue=task_queue,
            )
        await page.evaluate("window.notReloaded = true")
        await page.evaluate("htmx.ajax('GET', '/ui/inbox/queue', {target: '#queue', swap: 'outerHTML'})")
        await expect(page.locator("#queue .summary", has_text="Reply to the auditors")).to_be_visible()
        assert await page.evaluate("window.notReloaded") is True
        await expect(page.locator("#queue .count")).to_have_text("5")
        await expect(page.locator("#drafts .empty")).to_contain_text("No drafts yet")
        await shoot(page, "inbox")
    finally:
        await context.close()


async def test_approve_after_editing_the_draft_moves_the_item_to_processed_with_one_draft(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    user = await team_user(sessions, team)
    edited = "Hi Priya,\n\nYes, let us renew for two years.\n\nAlice"
    async with make_worker():
        await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
        await page.goto("/ui/inbox")
        await page.click(f"#queue a.summary:has-text('{RENEWAL}')")
        await expect(page.locator("h1")).to_have_text(RENEWAL)
        await expect(page.locator("table.list").first).to_contain_text("passed")
        await shoot(page, "item")
        await page.fill("#body", edited)
        await page.click("button:has-text('Approve')")
        await expect(page.locator(".notice-ok")).to_contain_text("approved: draft")

    drafts = await sandbox.created("gmail", "drafts")
    assert len(drafts) == 1
    async with sessions() as session:
        [stored] = await Repository(GmailDraft).find_many(session=session)
    assert stored.provider_draft_id == drafts[0]["id"]
    # The page shows the approved draft as sent, the audit log and the run timeline with Temporal links.
    await expect(page.locator("#action .chip").first).to_have_text("executed")
    await expect(page.locator("pre.draft")).to_have_text(edited)
    await expect(page.locator("#audit")).to_contain_text("action.approved")
    await expect(page.locator("#timeline")).to_contain_text("approve")
    link = await page.locator("#timeline a:has-text('Temporal UI')").first.get_attribute("href")
    assert link and link.startswith(f"{TEMPORAL_UI}/namespaces/default/workflows/")
    await shoot(page, "item-approved")

    await page.goto("/ui/inbox")
    await expect(page.locator("#processed")).to_contain_text(RENEWAL)
    assert RENEWAL not in await page.locator("#queue .summary").all_inner_texts()
    await expect(page.locator("#drafts")).to_contain_text(drafts[0]["id"])


async def test_reject_with_a_note(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    user = await team_user(sessions, team)
    async with make_worker():
        await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
        await page.goto("/ui/inbox")
        await page.click(f"#queue a.summary:has-text('{REFUND}')")
        await page.fill("#note", "already refunded by phone")
        await page.click("button:has-text('Reject')")
        await expect(page.locator(".notice-ok")).to_contain_text("rejected with the note: already refunded by phone")

    await expect(page.locator("#action .chip").first).to_have_text("dismissed")
    async with sessions() as session:
        [entry] = await Repository(FeedbackEntry).find_many(session=session)
    assert (entry.rating, entry.note) == ("negative", "already refunded by phone")
    assert await sandbox.created("gmail", "drafts") == []
    await page.goto("/ui/inbox")
    await expect(page.locator("#processed tr", has_text=REFUND).locator(".chip")).to_have_text("dismissed")


async def failed_discussion(client: Client, task_queue: str, team: str, sandbox: SandboxControl) -> None:
    """A discussion run that fails at task creation (Notion refuses the token)."""
    await sandbox.revoke_token("notion", "secret_sandbox")
    handle = await start_discussion(
        client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=CHECKOUT), task_queue=task_queue
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()


async def test_retry_a_failed_job_and_watch_it_complete(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    async with make_worker():
        await failed_discussion(client, task_queue, team, sandbox)
        await page.goto("/ui/jobs?status=failed")
        row = page.locator("table.jobs tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator(".chip")).to_have_text("failed")
        await expect(row).to_contain_text("task_creation")
        await shoot(page, "jobs")
        await row.locator("a").first.click()
        await expect(page.locator(".failure .error-text")).not_to_be_empty()
        await expect(page.locator("pre.stack")).not_to_be_empty()
        link = await page.locator("a:has-text('Temporal UI')").first.get_attribute("href")
        [failed_job] = [job async for job in jobs_of(sessions)]
        assert link == f"{TEMPORAL_UI}/namespaces/default/workflows/" + "/".join(
            quote(part, safe="") for part in (failed_job.workflow_id, failed_job.workflow_run_id)
        )
        await shoot(page, "job-failed")

        await sandbox.reset(seed=0)  # Notion takes the token again
        await page.click("button:has-text('Retry')")
        await expect(page.locator(".notice-ok")).to_contain_text("retry started")

        async def completed() -> bool:
            await page.reload()
            return await page.locator("#jobs .chip", has_text="completed").count() == 1

        await eventually(completed, what="the retried job completes")
    await expect(page.locator("h1 + .meta .chip")).to_have_text("completed")
    notion_links = page.locator("#tasks a:has-text('open in Notion')")
    assert await notion_links.count() == len(await sandbox.created("notion", "pages")) > 0
    await shoot(page, "discussion")
    async with sessions() as session:
        assert await Repository(Job).count(session=session) == 2


async def jobs_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Job]:
    async with sessions() as session:
        for job in await Repository(Job).find_many(session=session):
            yield job


async def failed_export(sessions: async_sessionmaker[AsyncSession], team: str) -> tuple[str, str]:
    """A work order of `team` whose export job is FAILED after its 5 attempts; (work order number, job id)."""
    order = WORK_ORDERS[0]
    async with unit_of_work(sessions) as session:
        workspace, _ = await WorkspaceRepository().get_or_create(
            session=session, slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID, team_id=team
        )
        work_order, _ = await WorkOrderRepository().get_or_create(
            session=session,
            workspace_id=workspace.id,
            work_order_number=order.number,
            site=order.site,
            facility_manager=order.fm,
            description=order.description,
        )
        await ExportJobRepository().enqueue(
            session=session, workspace_id=workspace.id, kind="WORK_ORDER", work_order_id=work_order.id
        )
        [job] = await Repository(ExportJob).find_many(session=session, work_order_id=work_order.id)
        await Repository(ExportJob).update_by_id(
            job.id, session=session, status="FAILED", attempts=5, last_error="Sheets answered 503 five times"
        )
    return order.number, str(job.id)


async def test_a_failed_export_is_retried_from_the_work_orders_page(
    page: Page,
    make_worker: Any,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    number, job_id = await failed_export(sessions, team)
    async with make_worker():
        await page.goto("/ui/work-orders")
        failed = page.locator("#failed-exports tbody tr")
        await expect(failed).to_have_count(1)
        await expect(failed).to_contain_text("Sheets answered 503 five times")
        await expect(page.locator("#latest tbody tr", has_text=number).locator(".chip").last).to_have_text("FAILED")
        await shoot(page, "work-orders")
        await failed.locator("button:has-text('Retry')").click()
        await expect(page.locator(".notice-ok")).to_contain_text(f"export job {job_id} is queued again")

        async def exported() -> bool:
            async with sessions() as session:
                job = await Repository(ExportJob).find_by_id(uuid.UUID(job_id), session=session)
            return job is not None and job.status == "DONE"

        await eventually(exported, what="the retried export is DONE")
    await page.goto("/ui/work-orders")
    await expect(page.locator("#failed-exports .empty")).to_be_visible()
    await expect(page.locator("#latest tbody tr", has_text=number).locator(".chip").last).to_have_text("DONE")
    rows = (await sandbox.spreadsheet(SPREADSHEET_ID))["Work Orders"][1:]
    assert [row[0] for row in rows] == [number]
    await page.click(f"#latest a:has-text('{number}')")
    await expect(page.locator("#export .chip")).to_have_text("DONE")
    await shoot(page, "work-order")


async def test_another_teams_page_is_404(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    other = await team_user(sessions, "team-other")
    _, job_id = await failed_export(sessions, "team-other")
    async with make_worker():
        await (await start_ingestion(client, other, task_queue=task_queue, force=True)).result()
        await failed_discussion(client, task_queue, "team-other", sandbox)
    async with sessions() as session:
        [theirs] = await Repository(Job).find_many(session=session)
        [their_order] = await WorkOrderRepository().find_many(session=session)
    item_page = await page.goto("/ui/inbox")
    assert item_page is not None
    await expect(page.locator("#queue .empty")).to_be_visible()  # their queue is not ours
    for path in (
        f"/ui/jobs/{theirs.id}",
        f"/ui/discussions/{theirs.discussion_id}",
        f"/ui/work-orders/{their_order.id}",
        f"/ui/items/{uuid.uuid4()}",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        await expect(page.locator("h1")).to_have_text("404 · Not Found")
    await shoot(page, "not-found")
    # Nor can their failed export be retried from our session.
    csrf = await page.locator("header form input[name=csrf_token]").get_attribute("value")
    refused = await page.request.post(f"/ui/exports/{job_id}/retry", form={"csrf_token": csrf or ""})
    assert refused.status == 404
    async with sessions() as session:
        job = await Repository(ExportJob).find_by_id(uuid.UUID(job_id), session=session)
    assert job is not None and job.status == "FAILED"


async def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    user = await team_user(sessions, team)
    async with make_worker():
        await (await start_ingestion(client, user, task_queue=task_queue, force=True)).result()
        await page.goto("/ui/inbox")
        await page.click(f"#queue a.summary:has-text('{RENEWAL}')")
        # The page's own approve form, with its CSRF token taken out, then with a wrong one.
        await page.evaluate("document.querySelector('form.approve input[name=csrf_token]').remove()")
        await page.click("button:has-text('Approve')")
        await expect(page.locator("h1")).to_have_text("403 · Forbidden")
        await expect(page.locator(".notice-error")).to_contain_text("CSRF token is missing or out of date")
        await shoot(page, "csrf-refused")
        action = page.url  # the refusal answers at the form's URL
        forged = await page.request.post(action, form={"csrf_token": "forged", "edited": "0"})
        assert forged.status == 403
    assert await sandbox.created("gmail", "drafts") == []
    async with sessions() as session:
        assert await Repository(GmailDraft).count(session=session) == 0


# -- runs (the engine mirror) and batch imports ---------------------------------------------


async def mirrored_discussion(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, team: str, status: str = "completed"
) -> Execution:
    """A discussion run of `team`, once the mirror has it closed in `status` with every attempt
    settled (the feed ticked as tests/test_mirror.py ticks it). A team with no source config
    (any but the `team` fixture's) fails at its first step: a failed run is mirrored all the same."""
    feed = feed_for(client, sessions, task_queue)
    handle = await start_discussion(
        client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=CHECKOUT), task_queue=task_queue
    )
    if status == "completed":
        await handle.result()
    else:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    run = await final_execution(sessions, handle, feed, status)
    await attempts_settled(sessions, handle.id)
    return run


async def test_a_discussion_run_is_on_the_runs_page_with_its_steps_and_attempts(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    await page.goto("/ui/runs")
    await expect(page.locator("p.empty")).to_contain_text("No runs mirrored yet")
    await sandbox.set_fault("slack", "conversations.replies", error_rate=1.0, times=2)
    async with make_worker():
        run = await mirrored_discussion(client, sessions, task_queue, team)
    await page.click("nav a:has-text('Runs')")
    await expect(page.locator("nav a.here")).to_have_text("Runs")
    row = page.locator("table.runs tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("DiscussionWorkflow")
    await expect(row.locator(".chip")).to_have_text("completed")
    assert await row.locator("time").get_attribute("title")  # the exact time on hover
    link = f"{TEMPORAL_UI}/namespaces/default/workflows/" + "/".join(
        quote(part, safe="") for part in (run.workflow_id, run.run_id)
    )
    assert await row.locator("a:has-text('Temporal UI')").get_attribute("href") == link
    await shoot(page, "runs")
    # The filters narrow the list in SQL: another status, a day range before the run, then this one's.
    await page.select_option("select[name=status]", "failed")
    await page.click("button:has-text('Filter')")
    await expect(page.locator("p.empty")).to_contain_text("No run matches these filters")
    day = f"{run.start_time:%Y-%m-%d}"
    await page.goto(f"/ui/runs?type=DiscussionWorkflow&status=completed&since={day}&until={day}")
    await expect(row).to_have_count(1)
    await page.goto("/ui/runs?until=2001-01-01")
    await expect(page.locator("p.empty")).to_be_visible()

    await page.goto("/ui/runs")
    await row.locator("a").first.click()
    await expect(page.locator("h1")).to_have_text("DiscussionWorkflow")
    await expect(page.locator("h1 + .meta .chip").first).to_have_text("completed")
    assert await page.locator("a.temporal").get_attribute("href") == link
    thread = page.locator("#steps tbody tr", has_text="discussion_build_thread")
    await expect(thread.locator("td.num")).to_have_text("3")
    built = page.locator("#attempts tbody tr", has_text="discussion_build_thread")
    await expect(built).to_have_count(3)
    await expect(built.locator(".chip")).to_have_text(["failed", "failed", "completed"])
    await expect(built.nth(0).locator(".error-text")).not_to_be_empty()
    await expect(page.locator("#timers tbody tr")).to_have_count(2)  # the two retry waits
    # The timeline is in time order, steps, attempts and timers merged.
    times = [await t.get_attribute("datetime") or "" for t in await page.locator("#timeline time").all()]
    assert len(times) > 3 and times == sorted(times)
    await expect(page.locator("#timeline")).to_contain_text("discussion_build_thread attempt 2")
    await shoot(page, "run")


async def imported_batch(
    client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, team: str, tmp_path: Path
) -> str:
    """A batch of `team`'s new workspace, imported (tests/test_batches.py's file: 22 good rows, 6 bad)."""
    ws = WorkspaceSpec(slug=f"ws-{uuid.uuid4().hex[:8]}", spreadsheet_id=SPREADSHEET_ID, team_id=team)
    stored = await store_batch(sessions, sample_file(tmp_path), workspace=ws, chunk_size=5)
    handle = await start_batch_import(client, stored, workspace=ws.slug, task_queue=task_queue, drain_exports=False)
    await handle.result()
    return stored.batch_id


async def test_an_imported_batch_is_on_the_work_orders_page_with_its_error_rows(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    tmp_path: Path,
) -> None:
    await page.goto("/ui/work-orders")
    await expect(page.locator("#batches .empty")).to_contain_text("intake batch import")
    async with make_worker():
        batch_id = await imported_batch(client, sessions, task_queue, team, tmp_path)
    await page.goto("/ui/work-orders")
    row = page.locator("#batches tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".chip")).to_have_text("COMPLETED")
    await expect(row.locator("td.num")).to_have_text(["28", "22", "0", "6"])
    await shoot(page, "work-orders-batches")
    await row.locator("a:has-text('orders.csv')").click()
    await expect(page.locator("h1")).to_have_text("Batch orders.csv")
    await expect(page.locator("#counts td.num")).to_have_text(["28", "22", "22", "0", "6"])
    await expect(page.locator("#chunks")).to_contain_text("COMPLETED 6")
    errors = page.locator("#errors tbody tr")
    await expect(errors).to_have_count(len(EXPECTED_ERRORS))
    found = {}
    for line in await errors.all():
        cells = await line.locator("td").all_inner_texts()
        found[int(cells[0])] = None if cells[1] == "—" else cells[1]
        assert cells[2] and await line.locator(".raw").inner_text()  # the reason, and the row's text
    assert found == EXPECTED_ERRORS
    assert page.url.endswith(f"/ui/batches/{batch_id}")
    await shoot(page, "batch")


async def test_another_teams_run_and_batch_are_404(
    page: Page,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    tmp_path: Path,
) -> None:
    other = f"team-other-{uuid.uuid4().hex[:8]}"  # its own discussion workflow id, whatever ran before
    async with make_worker():
        theirs = await mirrored_discussion(client, sessions, task_queue, other, "failed")
        their_batch = await imported_batch(client, sessions, task_queue, other, tmp_path)
    await page.goto("/ui/runs")
    await expect(page.locator("p.empty")).to_contain_text("No runs mirrored yet")  # their runs are not ours
    await page.goto("/ui/work-orders")
    await expect(page.locator("#batches .empty")).to_be_visible()
    for path in (
        f"/ui/runs/{theirs.workflow_id}/{theirs.run_id}",
        f"/ui/runs/{theirs.workflow_id}/{uuid.uuid4()}",
        f"/ui/batches/{their_batch}",
        f"/ui/batches/{uuid.uuid4()}",
        "/ui/batches/not-a-batch",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        await expect(page.locator("h1")).to_have_text("404 · Not Found")
