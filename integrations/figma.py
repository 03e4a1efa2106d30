"""Figma comments: read a comment thread, reply to it once, check webhook passcodes.

Figma has no official Python SDK, so this is a thin ``httpx`` client for the
two endpoints (``GET``/``POST /v1/files/{file_key}/comments``). Comments carry
no metadata, so :meth:`FigmaClient.post_reply` ends the reply's text with its
``key`` in brackets (``[intake:<discussion id>]``) and, when an earlier attempt
may have posted, looks for a reply carrying it first.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from core.settings import Settings
from integrations.errors import (
    MalformedResponseError,
    PermanentIntegrationError,
    RetryableIntegrationError,
    WebhookVerificationError,
    classify_status,
    parse_retry_after,
)
from integrations.http import async_http_client


class FigmaComment(BaseModel):
    """One comment; ``parent_id`` is empty for the root of a thread."""

    id: str
    file_key: str | None = None
    parent_id: str = ""
    message: str
    user_id: str | None = None
    user_handle: str | None = None
    created_at: str
    resolved_at: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> FigmaComment:
        user = data.get("user") or {}
        return cls(
            id=str(data["id"]),
            file_key=data.get("file_key"),
            parent_id=str(data.get("parent_id") or ""),
            message=data.get("message", ""),
            user_id=user.get("id"),
            user_handle=user.get("handle"),
            created_at=data.get("created_at", ""),
            resolved_at=data.get("resolved_at"),
        )


class FigmaPostedReply(BaseModel):
    """Our reply; ``created`` is False when an earlier attempt had already posted it."""

    comment: FigmaComment
    created: bool


class FigmaApi(Protocol):
    """What the discussion pipeline needs from Figma."""

    async def list_comments(self, file_key: str) -> list[FigmaComment]: ...

    async def fetch_thread(self, file_key: str, comment_id: str) -> list[FigmaComment]: ...

    async def post_reply(
        self, file_key: str, comment_id: str, message: str, *, key: str, look_first: bool = True
    ) -> FigmaPostedReply: ...

    async def aclose(self) -> None: ...


class FigmaClient:
    """:class:`FigmaApi` over ``httpx`` with a personal access token (``X-Figma-Token``)."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 30.0) -> None:
        self._http = async_http_client(base_url=base_url.rstrip("/"), headers={"X-Figma-Token": token}, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> FigmaClient:
        return cls(
            token=settings.figma_token.get_secret_value(),
            base_url=settings.service_base_url("figma"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, operation: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RetryableIntegrationError(
                f"no answer from Figma: {type(exc).__name__}: {exc}", service="figma", operation=operation
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = (body or {}).get("err") if isinstance(body, dict) else None
            raise classify_status(
                str(message or response.text[:200] or "no details"),
                service="figma",
                operation=operation,
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if not isinstance(body, dict):
            raise MalformedResponseError(
                "Figma answered something that is not a JSON object", service="figma", operation=operation
            )
        return body

    async def list_comments(self, file_key: str) -> list[FigmaComment]:
        body = await self._request("comments.list", "GET", f"/v1/files/{file_key}/comments")
        return [FigmaComment.from_api(c) for c in body.get("comments", [])]

    async def fetch_thread(self, file_key: str, comment_id: str) -> list[FigmaComment]:
        """The root comment ``comment_id`` then its replies, oldest first."""
        comments = await self.list_comments(file_key)
        root = next((c for c in comments if c.id == comment_id), None)
        if root is None:
            raise PermanentIntegrationError(
                f"file {file_key} has no comment {comment_id}", service="figma", operation="comments.list", status=404
            )
        replies = sorted((c for c in comments if c.parent_id == comment_id), key=lambda c: c.created_at)
        return [root, *replies]

    async def post_reply(
        self, file_key: str, comment_id: str, message: str, *, key: str, look_first: bool = True
    ) -> FigmaPostedReply:
        """Reply to thread ``comment_id`` once per ``key``, which the reply carries as ``[key]``.

        ``look_first=False`` skips listing the comments first, for a caller that
        knows no earlier attempt can have posted.
        """
        if not key or "]" in key:
            raise ValueError(f"a reply key must be non-empty and without ']': {key!r}")
        marker = f"[{key}]"
        if marker not in message:
            message = f"{message}\n{marker}"
        for comment in await self.list_comments(file_key) if look_first else []:
            if comment.parent_id == comment_id and marker in comment.message:
                return FigmaPostedReply(comment=comment, created=False)
        body = await self._request(
            "comments.create",
            "POST",
            f"/v1/files/{file_key}/comments",
            json={"message": message, "comment_id": comment_id},
        )
        return FigmaPostedReply(comment=FigmaComment.from_api(body), created=True)


def verify_figma_passcode(payload: Mapping[str, Any], expected: str) -> None:
    """Figma webhooks echo the passcode set at registration; refuse a payload without the right one."""
    passcode = payload.get("passcode")
    if not isinstance(passcode, str) or not passcode:
        raise WebhookVerificationError("Figma webhook payload has no passcode")
    if not hmac.compare_digest(passcode.encode(), expected.encode()):
        raise WebhookVerificationError("Figma webhook passcode does not match")
