"""The HTTP client under the httpx-based SDKs (Notion, OpenAI) and the Figma client.

httpx's own transport (httpcore on anyio) costs more CPU per request than the
request's whole round trip to a nearby service; profiled in bench/discussions.py
it was a tenth of the worker's CPU. The same `httpx.AsyncClient` API on aiohttp's
connection pool (`httpx-aiohttp`, which the openai SDK documents for this:
`DefaultAioHttpClient`) does the same work for less. The SDKs see an ordinary
httpx client: their timeouts, headers and error types are unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient


def async_http_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on aiohttp's pool; `options` are httpx.AsyncClient's."""
    return HttpxAiohttpClient(**options)
