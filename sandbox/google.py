"""What the sandbox's Google APIs (Gmail, Calendar, Sheets) share: OAuth bearer tokens, errors, paging.

Errors follow Google's JSON format::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
               "errors": [{"message": "...", "domain": "usageLimits", "reason": "rateLimitExceeded"}]}}

A rate limit is ``rateLimitExceeded`` with Retry-After; an exhausted quota is
``quotaExceeded``.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from sandbox.core import Service, bearer_token, json_response


def google_error(
    code: int, message: str, reason: str, status: str, domain: str = "global", headers: dict[str, str] | None = None
) -> web.Response:
    return json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                "status": status,
            }
        },
        status=code,
        headers=headers,
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """A page of ``items`` from an opaque offset token, and the next token (None at the end)."""
    offset = int(_unb64url(token).decode()) if token else 0
    nxt = _b64url(str(offset + size).encode()) if offset + size < len(items) else None
    return items[offset : offset + size], nxt


class GoogleService(Service):
    """What the three Google APIs share: OAuth bearer tokens, error bodies, quotas."""

    has_quota = True

    def token(self, request: web.Request) -> str | None:
        return bearer_token(request)

    def server_error(self) -> web.Response:
        return google_error(500, "Internal error encountered.", "backendError", "INTERNAL")

    def rejected(self) -> web.Response:
        return google_error(400, "Invalid value.", "invalid", "INVALID_ARGUMENT")

    def rate_limited(self, retry_after: int) -> web.Response:
        return google_error(
            429,
            "Rate Limit Exceeded",
            "rateLimitExceeded",
            "RESOURCE_EXHAUSTED",
            domain="usageLimits",
            headers={"Retry-After": str(retry_after)},
        )

    def quota_exhausted(self) -> web.Response:
        return google_error(
            429,
            f"Quota exceeded for quota metric 'Requests' and limit 'Requests per day' of service '{self.name}'.",
            "quotaExceeded",
            "RESOURCE_EXHAUSTED",
            domain="usageLimits",
        )

    def unauthorized(self) -> web.Response:
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "authError",
            "UNAUTHENTICATED",
        )

    @staticmethod
    def bad_request(message: str, reason: str = "invalid") -> web.Response:
        return google_error(400, message, reason, "INVALID_ARGUMENT")

    @staticmethod
    def not_found(message: str = "Requested entity was not found.") -> web.Response:
        return google_error(404, message, "notFound", "NOT_FOUND")

    @staticmethod
    async def json_body(request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @staticmethod
    def max_results(request: web.Request, default: int, ceiling: int) -> int:
        raw = request.query.get("maxResults")
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"Invalid value '{raw}' for maxResults.")
        return min(int(raw), ceiling)
