"""The HTTP client under the httpx-based SDKs (Notion, OpenAI) and the Figma client.

httpx's own transport (httpcore on anyio) costs more CPU per request than the
request's whole round trip to a nearby service; profiled in bench/discussions.py
it was a tenth of the worker's CPU. The same `httpx.AsyncClient` API on aiohttp's
connection pool (`httpx-aiohttp`, which the openai SDK documents for this:
`DefaultAioHttpClient`) does the same work for less. The SDKs see an ordinary
httpx client: timeouts apply per request as before, and failures arrive as httpx
errors (a timeout as `httpx.TimeoutException`, anything else aiohttp raises as
`httpx.TransportError`), which is what the SDKs and our clients catch.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class _Transport(AiohttpTransport):
    """httpx-aiohttp maps aiohttp's common errors to httpx's; this maps the rest too."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request) from exc


def async_http_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on aiohttp's pool; `options` are httpx.AsyncClient's."""
    return httpx.AsyncClient(transport=_Transport(), **options)
