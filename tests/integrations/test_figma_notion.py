"""Figma and Notion clients against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from core.settings import Settings
from integrations.errors import (
    AuthenticationError,
    PermanentIntegrationError,
    RateLimitedError,
    RetryableIntegrationError,
    WebhookVerificationError,
)
from integrations.figma import FigmaClient, verify_figma_passcode
from integrations.notion import (
    NotionClient,
    date_property,
    paragraph,
    select_property,
    title_property,
    to_do,
)
from sandbox.control import SandboxControl

KEY_PROPERTY = "Intake Key"


@pytest.fixture
async def figma(sandbox_settings: Settings):
    client = FigmaClient.from_settings(sandbox_settings)
    yield client
    await client.aclose()


@pytest.fixture
async def notion(sandbox_settings: Settings):
    client = NotionClient.from_settings(sandbox_settings)
    yield client
    await client.aclose()


@pytest.fixture
def file_key(fixtures: dict) -> str:
    return fixtures["figma"]["file_key"]


@pytest.fixture
def database_id(fixtures: dict) -> str:
    return fixtures["notion"]["database_id"]


# --- Figma ------------------------------------------------------------------------------------
async def test_figma_thread_is_root_then_its_replies(figma: FigmaClient, file_key: str) -> None:
    thread = await figma.fetch_thread(file_key, "1001")
    assert [c.id for c in thread] == ["1001", "1002", "1003", "1004"]
    assert thread[0].parent_id == "" and all(c.parent_id == "1001" for c in thread[1:])
    assert thread[1].user_handle == "ben"


async def test_figma_unknown_comment_is_permanent(figma: FigmaClient, file_key: str) -> None:
    with pytest.raises(PermanentIntegrationError, match="no comment 999"):
        await figma.fetch_thread(file_key, "999")


async def test_figma_unknown_file_is_permanent(figma: FigmaClient) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await figma.list_comments("nope")
    assert caught.value.status == 404


async def test_figma_reply_is_posted_once_even_after_a_lost_answer(
    figma: FigmaClient, file_key: str, control: SandboxControl
) -> None:
    message = "Created 2 tasks: https://intake.example/d/42"
    await control.set_fault("figma", "comments.create", fail_after_write="error", times=1)
    with pytest.raises(RetryableIntegrationError):
        await figma.post_reply(file_key, "1001", message, key="intake:42")
    again = await figma.post_reply(file_key, "1001", message, key="intake:42")
    assert again.created is False and again.comment.parent_id == "1001"
    created = await control.created("figma", "comments")
    assert [c["message"] for c in created] == [f"{message}\n[intake:42]"]


async def test_figma_reply_key_must_be_usable(figma: FigmaClient, file_key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        await figma.post_reply(file_key, "1001", "a reply", key="")


async def test_figma_rate_limit_and_bad_token(figma: FigmaClient, file_key: str, control: SandboxControl) -> None:
    await control.set_fault("figma", "comments.list", rate_limit_rate=1.0, retry_after=3, times=1)
    with pytest.raises(RateLimitedError) as caught:
        await figma.list_comments(file_key)
    assert caught.value.retry_after == 3
    await control.revoke_token("figma", "figd-sandbox")
    with pytest.raises(AuthenticationError):
        await figma.list_comments(file_key)


def test_figma_passcode_check() -> None:
    verify_figma_passcode({"event_type": "FILE_COMMENT", "passcode": "s3cret"}, "s3cret")
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_figma_passcode({"passcode": "guess"}, "s3cret")
    with pytest.raises(WebhookVerificationError, match="no passcode"):
        verify_figma_passcode({"event_type": "FILE_COMMENT"}, "s3cret")


# --- Notion -----------------------------------------------------------------------------------
def task_properties(title: str) -> dict:
    return {
        "Name": title_property(title),
        "Priority": select_property("High"),
        "Due": date_property(None),
    }


async def test_notion_page_is_created_with_properties_and_body(
    notion: NotionClient, database_id: str, control: SandboxControl
) -> None:
    result = await notion.create_page(
        database_id,
        properties=task_properties("Add a timeout to the provider call"),
        children=[paragraph("Summary"), to_do("Add a timeout")],
        key_property=KEY_PROPERTY,
        key="disc-1:task-0",
    )
    assert result.created
    assert result.page.title == "Add a timeout to the provider call"
    assert result.page.text_of(KEY_PROPERTY) == "disc-1:task-0"
    assert result.page.url.startswith("https://www.notion.so/")
    [page] = await control.created("notion", "pages")
    assert page["properties"]["Priority"]["select"]["name"] == "High"
    assert [b["type"] for b in page["children"]] == ["paragraph", "to_do"]


async def test_notion_create_after_a_lost_answer_finds_the_page(
    notion: NotionClient, database_id: str, control: SandboxControl
) -> None:
    await control.set_fault("notion", "pages.create", fail_after_write="hang", times=1)
    with pytest.raises(RetryableIntegrationError):
        await notion.create_page(
            database_id, properties=task_properties("T"), children=[], key_property=KEY_PROPERTY, key="disc-2:task-0"
        )
    retried = await notion.create_page(
        database_id, properties=task_properties("T"), children=[], key_property=KEY_PROPERTY, key="disc-2:task-0"
    )
    other = await notion.create_page(
        database_id, properties=task_properties("U"), children=[], key_property=KEY_PROPERTY, key="disc-2:task-1"
    )
    assert retried.created is False and other.created is True
    pages = await control.created("notion", "pages")
    assert len(pages) == 2
    assert retried.page.id == pages[0]["id"]


async def test_notion_find_page_by_key(notion: NotionClient, database_id: str) -> None:
    assert await notion.find_page(database_id, key_property=KEY_PROPERTY, key="missing") is None
    made = await notion.create_page(
        database_id, properties=task_properties("T"), children=[], key_property=KEY_PROPERTY, key="k-1"
    )
    found = await notion.find_page(database_id, key_property=KEY_PROPERTY, key="k-1")
    assert found is not None and found.id == made.page.id


async def test_notion_unknown_property_is_a_validation_error(notion: NotionClient, database_id: str) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await notion.create_page(
            database_id,
            properties={"Name": title_property("T"), "Colour": select_property("red")},
            children=[],
            key_property=KEY_PROPERTY,
            key="k-2",
        )
    assert caught.value.code == "validation_error"
    assert "Colour is not a property that exists" in str(caught.value)


async def test_notion_unknown_database_is_permanent(notion: NotionClient) -> None:
    with pytest.raises(PermanentIntegrationError) as caught:
        await notion.find_page("00000000-0000-0000-0000-000000000000", key_property=KEY_PROPERTY, key="k")
    assert caught.value.code == "object_not_found"


async def test_notion_rate_limit_honours_retry_after(
    notion: NotionClient, database_id: str, control: SandboxControl
) -> None:
    await control.set_fault("notion", "data_sources.query", rate_limit_rate=1.0, retry_after=12, times=1)
    with pytest.raises(RateLimitedError) as caught:
        await notion.find_page(database_id, key_property=KEY_PROPERTY, key="k")
    assert caught.value.retry_after == 12 and caught.value.code == "rate_limited"


async def test_notion_server_error_is_retryable_and_bad_token_permanent(
    notion: NotionClient, database_id: str, control: SandboxControl
) -> None:
    await control.set_fault("notion", "*", error_rate=1.0, times=1)
    with pytest.raises(RetryableIntegrationError):
        await notion.find_page(database_id, key_property=KEY_PROPERTY, key="k")
    await control.revoke_token("notion", "secret_sandbox")
    with pytest.raises(AuthenticationError):
        await notion.find_page(database_id, key_property=KEY_PROPERTY, key="k")


async def test_notion_body_over_one_hundred_blocks_is_refused_before_any_call(
    notion: NotionClient, database_id: str, control: SandboxControl
) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        await notion.create_page(
            database_id,
            properties=task_properties("T"),
            children=[paragraph(str(n)) for n in range(101)],
            key_property=KEY_PROPERTY,
            key="k",
        )
    assert await control.calls("notion") == []
