"""Gmail, Calendar and Sheets clients (google-api-python-client) against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from core.settings import Settings
from integrations.calendar import CalendarClient, event_id_for
from integrations.errors import (
    AuthenticationError,
    PermanentIntegrationError,
    QuotaExceededError,
    RateLimitedError,
    RetryableIntegrationError,
    SyncCursorExpiredError,
)
from integrations.gmail import GmailClient
from integrations.sheets import SheetsClient
from sandbox.control import SandboxControl

OPS = "ops@example.com"
ALICE = "alice@example.com"
START = datetime(2024, 7, 1, 9, tzinfo=UTC)


@pytest.fixture
def gmail(sandbox_settings: Settings) -> GmailClient:
    return GmailClient.from_settings(sandbox_settings)


@pytest.fixture
def calendar(sandbox_settings: Settings) -> CalendarClient:
    return CalendarClient.from_settings(sandbox_settings)


@pytest.fixture
def sheets(sandbox_settings: Settings) -> SheetsClient:
    return SheetsClient.from_settings(sandbox_settings)


@pytest.fixture
def spreadsheet_id(fixtures: dict) -> str:
    return fixtures["sheets"]["spreadsheet_id"]


# --- Gmail ------------------------------------------------------------------------------------
async def test_work_order_pdfs_can_be_listed_downloaded_and_read(gmail: GmailClient) -> None:
    refs = await gmail.list_messages(OPS, query="has:attachment filename:pdf")
    assert len(refs) == 5
    texts = []
    for ref in refs:
        message = await gmail.get_message(OPS, ref.id)
        for attachment in message.attachments:
            if attachment.is_pdf:
                data = await gmail.get_attachment(OPS, message.id, attachment.attachment_id)
                assert len(data) == attachment.size
                texts.append(PdfReader(io.BytesIO(data)).pages[0].extract_text())
    assert len(texts) == 6
    assert sum("Work Order Number: WO-10042" in t for t in texts) == 3  # original, forwarded copy, signed
    signed = [t for t in texts if "Signed by:" in t]
    assert len(signed) == 1 and "Signed by: Jordan Lee" in signed[0]
    assert any("Amount: 2,940.00" in t and "Site: 3 Station Square, Riverside" in t for t in texts)


async def test_the_same_pdf_mailed_twice_has_the_same_bytes(gmail: GmailClient) -> None:
    refs = await gmail.list_messages(OPS, query="filename:WO-10042.pdf")
    blobs = []
    for ref in refs:
        message = await gmail.get_message(OPS, ref.id)
        [attachment] = message.attachments
        blobs.append(await gmail.get_attachment(OPS, message.id, attachment.attachment_id))
    assert len(blobs) == 2 and blobs[0] == blobs[1]


async def test_message_list_follows_pages(sandbox_settings: Settings) -> None:
    client = GmailClient(token="ya29.test", root_url=sandbox_settings.service_base_url("gmail"), timeout=2, page_size=2)
    refs = await client.list_messages(OPS)
    assert len(refs) == 5 and len({r.id for r in refs}) == 5


async def test_history_returns_new_mail_and_advances(gmail: GmailClient, control: SandboxControl) -> None:
    cursor = await gmail.start_history_id(ALICE)
    assert (await gmail.list_history(ALICE, cursor)).added == []
    delivered = await control.deliver_mail(
        ALICE, sender="Priya <priya@vendor.example>", subject="Can you decide today?", body="Please decide."
    )
    history = await gmail.list_history(ALICE, cursor)
    assert [r.id for r in history.added] == [delivered["id"]]
    assert int(history.history_id) > int(cursor)
    assert (await gmail.list_history(ALICE, history.history_id)).added == []


async def test_history_paginates(sandbox_settings: Settings, control: SandboxControl) -> None:
    client = GmailClient(token="ya29.test", root_url=sandbox_settings.service_base_url("gmail"), timeout=2, page_size=2)
    cursor = await client.start_history_id(ALICE)
    ids = [(await control.deliver_mail(ALICE, sender="a@b.c", subject=f"m{n}"))["id"] for n in range(5)]
    history = await client.list_history(ALICE, cursor)
    assert [r.id for r in history.added] == ids
    assert await control.call_count("gmail", "users.history.list") == 3


async def test_expired_history_id_asks_for_a_full_sync(gmail: GmailClient, control: SandboxControl) -> None:
    cursor = await gmail.start_history_id(ALICE)
    await control.expire_gmail_history(ALICE)
    with pytest.raises(SyncCursorExpiredError) as caught:
        await gmail.list_history(ALICE, cursor)
    assert caught.value.kind == "cursor_expired" and caught.value.status == 404
    # The history id a full resync reads now is accepted (it is newer than every forgotten one).
    fresh = await gmail.start_history_id(ALICE)
    assert int(fresh) > int(cursor) and (await gmail.list_history(ALICE, fresh)).added == []


async def test_drafts_in_history_are_not_inbox_signals(gmail: GmailClient) -> None:
    cursor = await gmail.start_history_id(ALICE)
    await gmail.create_draft(ALICE, key="wi-1", to="tom@example.com", subject="Re: roadmap", body="Thursday works.")
    assert (await gmail.list_history(ALICE, cursor)).added == []
    assert len((await gmail.list_history(ALICE, cursor, label_id=None)).added) == 1


async def test_draft_is_created_once_even_when_the_answer_is_lost(gmail: GmailClient, control: SandboxControl) -> None:
    await control.set_fault("gmail", "users.drafts.create", fail_after_write="error", times=1)
    with pytest.raises(RetryableIntegrationError):
        await gmail.create_draft(ALICE, key="approve:wi-7", to="tom@example.com", subject="Re: Q3", body="Yes")
    draft = await gmail.create_draft(ALICE, key="approve:wi-7", to="tom@example.com", subject="Re: Q3", body="Yes")
    assert draft.created is False
    [made] = await control.created("gmail", "drafts")
    assert made["id"] == draft.id and made["to"] == "tom@example.com" and made["body"].strip() == "Yes"
    assert await gmail.find_draft(ALICE, "approve:wi-8") is None


async def test_gmail_rate_limit_vs_quota(gmail: GmailClient, control: SandboxControl) -> None:
    await control.set_fault("gmail", "users.messages.list", rate_limit_rate=1.0, retry_after=5, times=1)
    with pytest.raises(RateLimitedError) as limited:
        await gmail.list_messages(ALICE)
    assert limited.value.retry_after == 5 and limited.value.code == "rateLimitExceeded"
    await control.set_fault("gmail", "users.messages.list", quota_rate=1.0, times=1)
    with pytest.raises(QuotaExceededError) as quota:
        await gmail.list_messages(ALICE)
    assert quota.value.kind == "quota" and quota.value.code == "quotaExceeded"


async def test_gmail_bad_token_and_unknown_message(gmail: GmailClient, control: SandboxControl) -> None:
    with pytest.raises(PermanentIntegrationError) as missing:
        await gmail.get_message(ALICE, "ffffffffffffffff")
    assert missing.value.status == 404
    await control.revoke_token("gmail", "ya29.sandbox")
    with pytest.raises(AuthenticationError):
        await gmail.list_messages(ALICE)


async def test_concurrent_gmail_calls_each_use_their_own_connection(gmail: GmailClient) -> None:
    refs = await gmail.list_messages(OPS)
    messages = await asyncio.gather(*(gmail.get_message(OPS, r.id) for r in refs * 4))
    assert [m.id for m in messages] == [r.id for r in refs * 4]


# --- Calendar ---------------------------------------------------------------------------------
async def test_full_then_incremental_sync(calendar: CalendarClient, control: SandboxControl) -> None:
    full = await calendar.list_events("primary")
    assert {e.summary for e in full.events} >= {"Q3 roadmap review", "Vendor decision deadline"}
    assert any(e.all_day for e in full.events)
    assert (await calendar.list_events("primary", sync_token=full.next_sync_token)).events == []
    await control.add_calendar_event(
        ALICE,
        {
            "summary": "Board prep",
            "start": {"dateTime": "2024-07-02T10:00:00Z"},
            "end": {"dateTime": "2024-07-02T11:00:00Z"},
        },
    )
    delta = await calendar.list_events("primary", sync_token=full.next_sync_token)
    assert [e.summary for e in delta.events] == ["Board prep"]
    assert delta.next_sync_token != full.next_sync_token


async def test_sync_pages_are_followed(sandbox_settings: Settings) -> None:
    client = CalendarClient(
        token="ya29.test", root_url=sandbox_settings.service_base_url("calendar"), timeout=2, page_size=1
    )
    sync = await client.list_events(ALICE)
    assert len(sync.events) == 3 and sync.next_sync_token


async def test_expired_sync_token_asks_for_a_full_sync(calendar: CalendarClient, control: SandboxControl) -> None:
    token = (await calendar.list_events("primary")).next_sync_token
    await control.expire_calendar_sync_tokens(ALICE)
    with pytest.raises(SyncCursorExpiredError) as caught:
        await calendar.list_events("primary", sync_token=token)
    assert caught.value.status == 410 and caught.value.code == "fullSyncRequired"
    # The token of the full list that follows is accepted.
    fresh = (await calendar.list_events("primary")).next_sync_token
    assert (await calendar.list_events("primary", sync_token=fresh)).events == []


async def test_event_is_inserted_once_even_when_the_answer_never_comes(
    calendar: CalendarClient, control: SandboxControl
) -> None:
    await control.set_fault("calendar", "events.insert", fail_after_write="hang", times=1)
    with pytest.raises(RetryableIntegrationError):
        await calendar.insert_event(
            "primary", key="approve:wi-3", summary="Roadmap", start=START, end=START + timedelta(hours=1)
        )
    again = await calendar.insert_event(
        "primary", key="approve:wi-3", summary="Roadmap", start=START, end=START + timedelta(hours=1)
    )
    assert again.created is False and again.event.id == event_id_for("approve:wi-3")
    [made] = await control.created("calendar", "events")
    assert made["summary"] == "Roadmap" and made["calendar_id"] == ALICE


async def test_event_with_end_before_start_is_permanent(calendar: CalendarClient) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await calendar.insert_event("primary", key="k", summary="x", start=START, end=START - timedelta(hours=1))
    assert caught.value.code == "timeRangeEmpty"


async def test_calendar_server_error_is_retryable(calendar: CalendarClient, control: SandboxControl) -> None:
    await control.set_fault("calendar", "events.list", error_rate=1.0, times=1)
    with pytest.raises(RetryableIntegrationError) as caught:
        await calendar.list_events("primary")
    assert caught.value.status == 500


# --- Sheets -----------------------------------------------------------------------------------
async def test_row_is_appended_once_per_key(sheets: SheetsClient, spreadsheet_id: str, control: SandboxControl) -> None:
    first = await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-10042", "ACME", "12 Harbour St"], key="k1")
    second = await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-10043", "ACME", "48 Mill Rd"], key="k2")
    repeat = await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-10042", "ACME", "12 Harbour St"], key="k1")
    assert (first.row_number, second.row_number, repeat.row_number) == (2, 3, 2)
    assert first.created and second.created and not repeat.created
    cells = (await control.spreadsheet(spreadsheet_id))["Work Orders"]
    assert [row[0] for row in cells] == ["Work Order Number", "WO-10042", "WO-10043"]
    assert [row[3] for row in cells[1:]] == ["k1", "k2"]  # the key is the row's last cell


async def test_a_first_attempt_appends_without_looking(
    sheets: SheetsClient, spreadsheet_id: str, control: SandboxControl
) -> None:
    await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-1"], key="k1", look_first=False)
    await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-1"], key="k1", look_first=False)
    # Told that nothing can have written before, it trusts the caller: two rows, no read.
    assert len(await control.created("sheets", "rows")) == 2


async def test_append_after_a_timeout_that_wrote_is_not_repeated(
    sheets: SheetsClient, spreadsheet_id: str, control: SandboxControl
) -> None:
    await control.set_fault("sheets", "spreadsheets.values.append", fail_after_write="hang", times=1)
    with pytest.raises(RetryableIntegrationError):
        await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-10044", "Northwind"], key="k44")
    again = await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-10044", "Northwind"], key="k44")
    assert again.created is False and again.row_number == 2
    assert len(await control.created("sheets", "rows")) == 1


async def test_sheets_quota_is_not_a_rate_limit(
    sheets: SheetsClient, spreadsheet_id: str, control: SandboxControl
) -> None:
    await control.set_fault("sheets", "spreadsheets.values.append", quota_rate=1.0)
    with pytest.raises(QuotaExceededError):
        await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-1"], key="k1")
    await control.set_fault("sheets", "spreadsheets.values.append", rate_limit_rate=1.0, retry_after=2)
    with pytest.raises(RateLimitedError) as caught:
        await sheets.append_row(spreadsheet_id, "Work Orders", ["WO-1"], key="k1")
    assert caught.value.retry_after == 2
    assert await control.created("sheets", "rows") == []


async def test_unknown_sheet_is_permanent(sheets: SheetsClient, spreadsheet_id: str) -> None:
    with pytest.raises(PermanentIntegrationError, match="Unable to parse range"):
        await sheets.append_row(spreadsheet_id, "No Such Sheet", ["WO-1"], key="k1")
