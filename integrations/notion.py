"""Notion: create task pages in a database exactly once, and find them by a property we set.

Built on ``notion-client``'s ``AsyncClient`` (API version 2025-09-03, where a
database holds data sources and queries go to ``data_sources/{id}/query``),
with the SDK's own retries off: Temporal owns retries. Every page we create
carries our idempotency key in a rich-text property (``key_property``);
:meth:`NotionClient.create_page` queries for that key first, so a retry after a
lost answer returns the page already made instead of making a second one.

The block and property helpers at the end build Notion's JSON shapes and keep
rich text under Notion's 2,000-character limit.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Protocol

import httpx
from notion_client import AsyncClient
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from pydantic import BaseModel

from core.settings import Settings
from integrations.errors import (
    IntegrationError,
    PermanentIntegrationError,
    RetryableIntegrationError,
    classify_status,
    parse_retry_after,
)
from integrations.http import async_http_client

MAX_CHILDREN = 100
MAX_TEXT = 2000


class NotionPage(BaseModel):
    """A page of the task database, as much of it as the pipeline needs."""

    id: str
    url: str
    title: str
    properties: dict[str, Any]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> NotionPage:
        properties = data.get("properties") or {}
        title = next(
            (
                "".join(t.get("plain_text", "") for t in p.get("title", []))
                for p in properties.values()
                if p.get("type") == "title"
            ),
            "",
        )
        return cls(id=data["id"], url=data.get("url", ""), title=title, properties=properties)

    def text_of(self, name: str) -> str | None:
        """The plain text of a title or rich-text property."""
        prop = self.properties.get(name) or {}
        items = prop.get(prop.get("type", ""), None)
        if not isinstance(items, list):
            return None
        return "".join(t.get("plain_text", "") for t in items)


class NotionCreatedPage(BaseModel):
    """The page for a key; ``created`` is False when an earlier attempt had already made it."""

    page: NotionPage
    created: bool


class NotionApi(Protocol):
    """What the discussion pipeline needs from Notion."""

    async def find_page(self, database_id: str, *, key_property: str, key: str) -> NotionPage | None: ...

    async def create_page(
        self,
        database_id: str,
        *,
        properties: dict[str, Any],
        children: list[dict[str, Any]],
        key_property: str,
        key: str,
        look_first: bool = True,
    ) -> NotionCreatedPage: ...

    async def aclose(self) -> None: ...


class NotionClient:
    """:class:`NotionApi` on the official SDK."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 30.0) -> None:
        self._sdk = AsyncClient(
            client=async_http_client(),
            auth=token,
            base_url=base_url.rstrip("/"),
            timeout_ms=int(timeout * 1000),
            retry=False,
            # A plain logger (the SDK's default adds a console handler per client).
            logger=logging.getLogger("notion_client"),
        )
        self._data_sources: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> NotionClient:
        return cls(
            token=settings.notion_token.get_secret_value(),
            base_url=settings.service_base_url("notion"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        await self._sdk.aclose()

    async def _call(self, operation: str, coro: Any) -> dict[str, Any]:
        try:
            return await coro
        except HTTPResponseError as exc:
            raise _map_notion_error(operation, exc) from exc
        except (RequestTimeoutError, httpx.HTTPError) as exc:
            raise RetryableIntegrationError(
                f"no answer from Notion: {type(exc).__name__}: {exc}", service="notion", operation=operation
            ) from exc

    async def data_source_id(self, database_id: str) -> str:
        """The database's (first) data source, where pages live and queries go; cached."""
        if database_id not in self._data_sources:
            database = await self._call("databases.retrieve", self._sdk.databases.retrieve(database_id=database_id))
            sources = database.get("data_sources") or []
            if not sources:
                raise PermanentIntegrationError(
                    f"database {database_id} has no data source", service="notion", operation="databases.retrieve"
                )
            self._data_sources[database_id] = sources[0]["id"]
        return self._data_sources[database_id]

    async def find_page(self, database_id: str, *, key_property: str, key: str) -> NotionPage | None:
        """The page whose ``key_property`` equals ``key``, if there is one."""
        source = await self.data_source_id(database_id)
        body = await self._call(
            "data_sources.query",
            self._sdk.data_sources.query(
                data_source_id=source,
                filter={"property": key_property, "rich_text": {"equals": key}},
                page_size=1,
            ),
        )
        results = body.get("results") or []
        return NotionPage.from_api(results[0]) if results else None

    async def create_page(
        self,
        database_id: str,
        *,
        properties: dict[str, Any],
        children: list[dict[str, Any]],
        key_property: str,
        key: str,
        look_first: bool = True,
    ) -> NotionCreatedPage:
        """Create the page once per ``key`` (stored in ``key_property``); a second call returns the first page.

        ``look_first=False`` skips the lookup: for a caller that knows no earlier
        attempt can have made the page (its first attempt), it saves a query.
        """
        if len(children) > MAX_CHILDREN:
            raise ValueError(f"a page body may have at most {MAX_CHILDREN} blocks, got {len(children)}")
        if look_first:
            existing = await self.find_page(database_id, key_property=key_property, key=key)
            if existing is not None:
                return NotionCreatedPage(page=existing, created=False)
        source = await self.data_source_id(database_id)
        page = await self._call(
            "pages.create",
            self._sdk.pages.create(
                parent={"type": "data_source_id", "data_source_id": source},
                properties={**properties, key_property: rich_text_property(key)},
                children=children,
            ),
        )
        return NotionCreatedPage(page=NotionPage.from_api(page), created=True)


def _map_notion_error(operation: str, exc: HTTPResponseError) -> IntegrationError:
    code = getattr(exc.code, "value", exc.code) or None
    if code == "conflict_error":
        # Notion: "the transaction could not be completed ... try again".
        return RetryableIntegrationError(str(exc), service="notion", operation=operation, status=exc.status, code=code)
    return classify_status(
        str(exc),
        service="notion",
        operation=operation,
        status=exc.status,
        code=code,
        retry_after=parse_retry_after(exc.headers.get("Retry-After")),
    )


# --- builders for Notion's JSON -------------------------------------------------------------
def rich_text(text: str, link: str | None = None) -> list[dict[str, Any]]:
    """Rich text for ``text``, split into pieces of at most 2,000 characters."""
    pieces = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)] or [""]
    return [{"type": "text", "text": {"content": p, "link": {"url": link} if link else None}} for p in pieces]


def title_property(text: str) -> dict[str, Any]:
    return {"title": rich_text(text[:MAX_TEXT])}


def rich_text_property(text: str) -> dict[str, Any]:
    return {"rich_text": rich_text(text)}


def select_property(name: str | None) -> dict[str, Any]:
    return {"select": {"name": name.replace(",", " ")} if name else None}


def multi_select_property(names: list[str]) -> dict[str, Any]:
    return {"multi_select": [{"name": n.replace(",", " ")} for n in names]}


def date_property(day: date | None) -> dict[str, Any]:
    return {"date": {"start": day.isoformat()} if day else None}


def url_property(url: str | None) -> dict[str, Any]:
    return {"url": url}


def _block(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text), **extra}}


def heading(text: str) -> dict[str, Any]:
    return _block("heading_2", text)


def paragraph(text: str, link: str | None = None) -> dict[str, Any]:
    block = _block("paragraph", text)
    if link:
        block["paragraph"]["rich_text"] = rich_text(text, link)
    return block


def bullet(text: str) -> dict[str, Any]:
    return _block("bulleted_list_item", text)


def to_do(text: str, checked: bool = False) -> dict[str, Any]:
    return _block("to_do", text, checked=checked)
