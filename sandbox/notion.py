"""Notion API subset (version 2025-09-03): a database with one data source, pages in it.

Operations: ``GET /v1/databases/{id}``, ``POST /v1/data_sources/{id}/query``
(property filters, ``and``/``or``, cursor pagination), ``POST /v1/pages`` and
``GET /v1/pages/{id}``. Errors are ``{"object": "error", "status", "code",
"message"}`` as https://developers.notion.com/reference/status-codes lists
them; 429 is ``rate_limited`` with Retry-After.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, Service, bearer_token, json_response

DATABASE_ID = "5b2f6c0e-8a43-4d0c-9a59-3f5e1c2d7a10"
DATA_SOURCE_ID = "9e1d4b7a-2c3f-4e8d-8b61-0a4c5d6e7f21"
MAX_RICH_TEXT = 2000
MAX_CHILDREN = 100

# Property name -> type: the task database the discussion pipeline writes to.
SCHEMA: dict[str, str] = {
    "Name": "title",
    "Priority": "select",
    "Type": "select",
    "Assignee": "rich_text",
    "Due": "date",
    "Tags": "multi_select",
    "Domain": "select",
    "Source": "url",
    "Intake Key": "rich_text",
    "Status": "select",
}

TEXT_OPS = {"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "is_empty", "is_not_empty"}
SELECT_OPS = {"equals", "does_not_equal", "is_empty", "is_not_empty"}


class NotionFilterError(ValueError):
    """A query filter the sandbox (or Notion) cannot apply."""


class NotionService(Service):
    name = "notion"

    def reset(self) -> None:
        self.created = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.children: dict[str, list[dict[str, Any]]] = {}

    def token(self, request: web.Request) -> str | None:
        return bearer_token(request)

    @staticmethod
    def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return json_response(
            {"object": "error", "status": status, "code": code, "message": message, "request_id": str(uuid.uuid4())},
            status=status,
            headers=headers,
        )

    def server_error(self) -> web.Response:
        return self._error(500, "internal_server_error", "Unexpected error occurred.")

    def rejected(self) -> web.Response:
        return self._error(400, "validation_error", "body failed validation.")

    def rate_limited(self, retry_after: int) -> web.Response:
        return self._error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
            headers={"Retry-After": str(retry_after)},
        )

    def unauthorized(self) -> web.Response:
        return self._error(401, "unauthorized", "API token is invalid.")

    def fixtures(self) -> dict[str, Any]:
        return {"database_id": DATABASE_ID, "data_source_id": DATA_SOURCE_ID, "properties": SCHEMA}

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/v1/databases/{database_id}", "databases.retrieve", self.retrieve_database),
            Endpoint("POST", "/v1/data_sources/{data_source_id}/query", "data_sources.query", self.query),
            Endpoint("POST", "/v1/pages", "pages.create", self.create_page, write=True),
            Endpoint("GET", "/v1/pages/{page_id}", "pages.retrieve", self.retrieve_page),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/pages/{page_id}/children", self.page_children)]

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    def _same_id(a: str, b: str) -> bool:
        return a.replace("-", "").lower() == b.replace("-", "").lower()

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if not request.headers.get("Notion-Version"):
            return self._error(400, "missing_version", "Notion-Version header failed validation: it is required.")
        if not request.body_exists:
            return {}
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "invalid_json", "Error parsing JSON body.")
        if not isinstance(body, dict):
            return self._error(400, "validation_error", "body failed validation: body should be an object.")
        return body

    # --- operations -------------------------------------------------------------------
    async def retrieve_database(self, request: web.Request) -> web.Response:
        database_id = request.match_info["database_id"]
        if not self._same_id(database_id, DATABASE_ID):
            return self._error(
                404,
                "object_not_found",
                f"Could not find database with ID: {database_id}. "
                "Make sure the relevant pages and databases are shared with your integration.",
            )
        return json_response(
            {
                "object": "database",
                "id": DATABASE_ID,
                "title": [_rich_text("Intake tasks")],
                "parent": {"type": "workspace", "workspace": True},
                "is_inline": False,
                "in_trash": False,
                "data_sources": [{"id": DATA_SOURCE_ID, "name": "Intake tasks"}],
                "url": f"https://www.notion.so/{DATABASE_ID.replace('-', '')}",
            }
        )

    async def query(self, request: web.Request) -> web.Response:
        data_source_id = request.match_info["data_source_id"]
        if not self._same_id(data_source_id, DATA_SOURCE_ID):
            return self._error(404, "object_not_found", f"Could not find data_source with ID: {data_source_id}.")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        page_size = body.get("page_size", 100)
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            return self._error(400, "validation_error", "body.page_size should be ≤ `100` and ≥ `1`.")
        try:
            matches = [pid for pid in self.order if _matches(self.pages[pid], body.get("filter"))]
        except NotionFilterError as exc:
            return self._error(400, "validation_error", str(exc))
        start = 0
        cursor = body.get("start_cursor")
        if cursor:
            if cursor not in matches:
                return self._error(400, "validation_error", "body.start_cursor should be a valid cursor.")
            start = matches.index(cursor)
        page_ids = matches[start : start + page_size]
        has_more = start + page_size < len(matches)
        return json_response(
            {
                "object": "list",
                "results": [copy.deepcopy(self.pages[pid]) for pid in page_ids],
                "next_cursor": matches[start + page_size] if has_more else None,
                "has_more": has_more,
                "type": "page_or_data_source",
                "page_or_data_source": {},
            }
        )

    async def create_page(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        parent = body.get("parent")
        if not isinstance(parent, dict):
            return self._error(400, "validation_error", "body failed validation: body.parent should be defined.")
        target = parent.get("data_source_id") or parent.get("database_id")
        expected = DATA_SOURCE_ID if parent.get("data_source_id") else DATABASE_ID
        if not isinstance(target, str) or not self._same_id(target, expected):
            return self._error(
                404,
                "object_not_found",
                f"Could not find database with ID: {target}. "
                "Make sure the relevant pages and databases are shared with your integration.",
            )
        properties = body.get("properties")
        if not isinstance(properties, dict):
            return self._error(400, "validation_error", "body failed validation: body.properties should be an object.")
        rendered: dict[str, Any] = {}
        for name, value in properties.items():
            kind = SCHEMA.get(name)
            if kind is None:
                return self._error(400, "validation_error", f"{name} is not a property that exists.")
            try:
                rendered[name] = _render_property(name, kind, value)
            except ValueError as exc:
                return self._error(400, "validation_error", str(exc))
        if not rendered.get("Name", {}).get("title"):
            return self._error(400, "validation_error", "Name is expected to be title and must not be empty.")
        for name, kind in SCHEMA.items():
            rendered.setdefault(name, _render_property(name, kind, None))
        children = body.get("children", [])
        if not isinstance(children, list) or len(children) > MAX_CHILDREN:
            return self._error(400, "validation_error", f"body.children.length should be ≤ `{MAX_CHILDREN}`.")
        for n, block in enumerate(children):
            if not isinstance(block, dict) or block.get("type") not in block:
                return self._error(400, "validation_error", f"body.children[{n}] should be a block with its type key.")
        page_id = self.ids.unique_uuid()
        title = "".join(t["plain_text"] for t in rendered["Name"]["title"])
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60]
        now = "2024-07-01T00:00:00.000Z"
        page = {
            "object": "page",
            "id": page_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": {"object": "user", "id": "intake-bot"},
            "parent": {"type": "data_source_id", "data_source_id": DATA_SOURCE_ID, "database_id": DATABASE_ID},
            "archived": False,
            "in_trash": False,
            "icon": body.get("icon"),
            "cover": body.get("cover"),
            "properties": rendered,
            "url": f"https://www.notion.so/{slug}-{page_id.replace('-', '')}",
            "public_url": None,
        }
        self.pages[page_id] = page
        self.order.append(page_id)
        # The page and its blocks come from this request's body and are never changed after,
        # so the store, the created-items record and the answer share them (no copies).
        self.children[page_id] = children
        self.record_created("pages", {**page, "children": children})
        return json_response(page)

    async def retrieve_page(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        page = next((p for pid, p in self.pages.items() if self._same_id(pid, page_id)), None)
        if page is None:
            return self._error(404, "object_not_found", f"Could not find page with ID: {page_id}.")
        return json_response(page)

    async def page_children(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        return json_response({"results": self.children.get(page_id, [])})


def _rich_text(content: str, link: str | None = None) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": {
            "bold": False,
            "italic": False,
            "strikethrough": False,
            "underline": False,
            "code": False,
            "color": "default",
        },
        "plain_text": content,
        "href": link,
    }


def _render_property(name: str, kind: str, value: Any) -> dict[str, Any]:
    """Validate a property value as Notion does and render it as a page returns it."""
    prop_id = "title" if kind == "title" else re.sub(r"[^a-z]", "", name.lower())[:4] or "prop"
    out: dict[str, Any] = {"id": prop_id, "type": kind}
    if value is None:
        out[kind] = [] if kind in ("title", "rich_text", "multi_select") else None
        return out
    if not isinstance(value, dict) or kind not in value:
        raise ValueError(f"{name} is expected to be {kind}.")
    inner = value[kind]
    if kind in ("title", "rich_text"):
        if not isinstance(inner, list):
            raise ValueError(f"body.properties.{name}.{kind} should be an array.")
        texts = []
        for n, item in enumerate(inner):
            content = item.get("text", {}).get("content") if isinstance(item, dict) else None
            if not isinstance(content, str):
                raise ValueError(f"body.properties.{name}.{kind}[{n}].text.content should be a string.")
            if len(content) > MAX_RICH_TEXT:
                raise ValueError(
                    f"body.properties.{name}.{kind}[{n}].text.content.length should be ≤ `{MAX_RICH_TEXT}`, "
                    f"instead was `{len(content)}`."
                )
            link = (item["text"].get("link") or {}).get("url")
            texts.append(_rich_text(content, link))
        out[kind] = texts
    elif kind == "select":
        if inner is not None and not (isinstance(inner, dict) and isinstance(inner.get("name"), str)):
            raise ValueError(f"body.properties.{name}.select.name should be a string.")
        out[kind] = (
            None if inner is None else {"id": inner["name"].lower()[:8], "name": inner["name"], "color": "default"}
        )
    elif kind == "multi_select":
        if not isinstance(inner, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) for i in inner
        ):
            raise ValueError(f"body.properties.{name}.multi_select should be an array of {{name}} objects.")
        if any("," in i["name"] for i in inner):
            raise ValueError(f"body.properties.{name}.multi_select: option names cannot contain commas.")
        out[kind] = [{"id": i["name"].lower()[:8], "name": i["name"], "color": "default"} for i in inner]
    elif kind == "date":
        if inner is not None and not (
            isinstance(inner, dict)
            and isinstance(inner.get("start"), str)
            and re.match(r"^\d{4}-\d{2}-\d{2}", inner["start"])
        ):
            raise ValueError(f"body.properties.{name}.date.start should be a valid ISO 8601 date string.")
        out[kind] = None if inner is None else {"start": inner["start"], "end": inner.get("end"), "time_zone": None}
    elif kind == "url":
        if inner is not None and not isinstance(inner, str):
            raise ValueError(f"body.properties.{name}.url should be a string.")
        out[kind] = inner
    return out


def _plain(prop: dict[str, Any]) -> str | None:
    kind = prop["type"]
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return "".join(t["plain_text"] for t in value) if value else None
    if kind == "select":
        return value["name"] if value else None
    if kind == "date":
        return value["start"] if value else None
    return value


def _matches(page: dict[str, Any], flt: Any) -> bool:
    if flt is None:
        return True
    if not isinstance(flt, dict):
        raise NotionFilterError("body.filter should be an object.")
    if "and" in flt:
        return all(_matches(page, f) for f in flt["and"])
    if "or" in flt:
        return any(_matches(page, f) for f in flt["or"])
    name = flt.get("property")
    if name not in SCHEMA:
        raise NotionFilterError(f"Could not find property with name or id: {name}")
    kind = SCHEMA[name]
    condition = flt.get(kind)
    if not isinstance(condition, dict) or len(condition) != 1:
        raise NotionFilterError(f"body.filter.{kind} should be defined, instead was `undefined`.")
    op, operand = next(iter(condition.items()))
    if kind == "multi_select":
        names = [o["name"] for o in page["properties"][name]["multi_select"]]
        if op == "contains":
            return operand in names
        if op == "does_not_contain":
            return operand not in names
        if op in ("is_empty", "is_not_empty"):
            return (not names) == (op == "is_empty")
        raise NotionFilterError(f"body.filter.multi_select.{op} is not supported.")
    allowed = TEXT_OPS if kind in ("title", "rich_text", "url") else SELECT_OPS
    if op not in allowed:
        raise NotionFilterError(f"body.filter.{kind}.{op} is not supported.")
    value = _plain(page["properties"][name])
    if op == "is_empty":
        return not value
    if op == "is_not_empty":
        return bool(value)
    if op == "equals":
        return value == operand
    if op == "does_not_equal":
        return value != operand
    if op == "contains":
        return value is not None and str(operand).lower() in value.lower()
    if op == "does_not_contain":
        return value is None or str(operand).lower() not in value.lower()
    return value is not None and value.lower().startswith(str(operand).lower())
