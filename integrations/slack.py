"""Slack: read a thread, reply in it exactly once, set status reactions, verify Events API requests.

Built on ``slack_sdk``'s ``AsyncWebClient`` with its own retry handlers off:
Temporal owns retries, and a silent SDK retry of ``chat.postMessage`` after a
dropped connection could post twice. A reply carries Slack message metadata
(``event_type`` ``intake_reply``, our idempotency key in ``event_payload``);
:meth:`SlackClient.post_reply` first looks for that key in the thread, so a
retry after a lost answer finds the earlier reply instead of posting again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import aiohttp
from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from core.errors import ConfigurationError
from core.settings import Settings
from integrations.errors import (
    AuthenticationError,
    IntegrationError,
    PermanentIntegrationError,
    RetryableIntegrationError,
    WebhookVerificationError,
    classify_status,
    parse_retry_after,
)

log = logging.getLogger(__name__)

REPLY_EVENT_TYPE = "intake_reply"
# How long a client keeps the name users.info gave for a user id.
USER_NAME_TTL = 3600.0
SIGNATURE_WINDOW_SECONDS = 60 * 5
# Error codes Slack answers with HTTP 200 that are worth retrying.
RETRYABLE_CODES = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})
AUTH_CODES = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "missing_scope"}
)


class SlackMessage(BaseModel):
    """One message of a thread."""

    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None


class SlackThread(BaseModel):
    """A whole thread: the parent first, then every reply in order."""

    channel: str
    thread_ts: str
    messages: list[SlackMessage]


class SlackPostedReply(BaseModel):
    """Our reply in a thread; ``created`` is False when an earlier attempt had already posted it."""

    channel: str
    ts: str
    created: bool


class SlackApi(Protocol):
    """What the discussion pipeline needs from Slack."""

    async def fetch_thread(self, channel: str, thread_ts: str) -> SlackThread: ...

    async def user_names(self, user_ids: Iterable[str]) -> dict[str, str]: ...

    async def find_reply(self, channel: str, thread_ts: str, key: str) -> SlackMessage | None: ...

    async def post_reply(
        self, channel: str, thread_ts: str, text: str, *, key: str, look_first: bool = True
    ) -> SlackPostedReply: ...

    async def add_reaction(self, channel: str, ts: str, name: str) -> None: ...

    async def remove_reaction(self, channel: str, ts: str, name: str) -> None: ...

    async def aclose(self) -> None: ...


class SlackClient:
    """:class:`SlackApi` on the official SDK."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 30.0, page_size: int = 200) -> None:
        self._web = AsyncWebClient(token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[])
        self._timeout = timeout
        self._page_size = page_size
        self._names: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackClient:
        return cls(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.service_base_url("slack"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        session = self._web.session
        if session is not None and not session.closed:
            await session.close()

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        if self._web.session is None or self._web.session.closed:
            # One pooled session for every call (the SDK would open and close one per call).
            self._web.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        method = getattr(self._web, operation.replace(".", "_"))
        try:
            response = await method(**kwargs)
        except SlackApiError as exc:
            raise _map_slack_error(operation, exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableIntegrationError(
                f"no answer from Slack: {type(exc).__name__}: {exc}", service="slack", operation=operation
            ) from exc
        return dict(response.data)

    async def fetch_thread(self, channel: str, thread_ts: str) -> SlackThread:
        """Every message of the thread, following ``response_metadata.next_cursor``."""
        messages: list[SlackMessage] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "channel": channel,
                "ts": thread_ts,
                "limit": self._page_size,
                "include_all_metadata": True,
            }
            if cursor:
                kwargs["cursor"] = cursor
            data = await self._call("conversations.replies", **kwargs)
            messages.extend(SlackMessage.model_validate(m) for m in data.get("messages", []))
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not data.get("has_more") or not cursor:
                return SlackThread(channel=channel, thread_ts=thread_ts, messages=messages)

    async def user_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The name Slack shows for each user id (users.info: the profile's display name, else the
        real name, else the handle), read once per USER_NAME_TTL seconds per id in this client.

        An id Slack cannot name (user_not_found, or the token lacks the users:read scope) is left
        out, so the caller keeps the id; a transient error (rate limit, outage) is raised, to be
        retried like any other call."""
        now = time.monotonic()
        names: dict[str, str] = {}
        for user_id in dict.fromkeys(user_ids):
            cached = self._names.get(user_id)
            if cached is not None and cached[0] > now:
                if cached[1] is not None:
                    names[user_id] = cached[1]
                continue
            try:
                data = await self._call("users.info", user=user_id)
            except PermanentIntegrationError as exc:
                if isinstance(exc, AuthenticationError) and exc.code != "missing_scope":
                    raise  # a revoked or wrong token: every other call fails too
                log.warning("Slack cannot name user %s (%s): the id is shown instead", user_id, exc.code)
                self._names[user_id] = (now + USER_NAME_TTL, None)
                continue
            user = data.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
            self._names[user_id] = (now + USER_NAME_TTL, str(name) if name else None)
            if name:
                names[user_id] = str(name)
        return names

    async def find_reply(self, channel: str, thread_ts: str, key: str) -> SlackMessage | None:
        """Our earlier reply carrying ``key`` in its metadata, if the thread has one."""
        thread = await self.fetch_thread(channel, thread_ts)
        for message in thread.messages:
            meta = message.metadata or {}
            if meta.get("event_type") == REPLY_EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == key:
                return message
        return None

    async def post_reply(
        self, channel: str, thread_ts: str, text: str, *, key: str, look_first: bool = True
    ) -> SlackPostedReply:
        """Reply in the thread once per ``key``: an earlier reply with the key is returned, not repeated.

        ``look_first=False`` skips reading the thread first, for a caller that knows
        no earlier attempt can have posted (its first attempt).
        """
        existing = await self.find_reply(channel, thread_ts, key) if look_first else None
        if existing is not None:
            return SlackPostedReply(channel=channel, ts=existing.ts, created=False)
        data = await self._call(
            "chat.postMessage",
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"key": key}},
        )
        return SlackPostedReply(channel=data.get("channel", channel), ts=data["ts"], created=True)

    async def add_reaction(self, channel: str, ts: str, name: str) -> None:
        """Add our ``name`` reaction; already having it counts as success."""
        try:
            await self._call("reactions.add", channel=channel, timestamp=ts, name=name)
        except IntegrationError as exc:
            if exc.code != "already_reacted":
                raise

    async def remove_reaction(self, channel: str, ts: str, name: str) -> None:
        """Remove our ``name`` reaction; not having it counts as success."""
        try:
            await self._call("reactions.remove", channel=channel, timestamp=ts, name=name)
        except IntegrationError as exc:
            if exc.code != "no_reaction":
                raise


def _map_slack_error(operation: str, exc: SlackApiError) -> IntegrationError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "") or None
    headers = getattr(response, "headers", {}) or {}
    retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
    message = f"Slack answered {code or 'an error'}"
    if code in AUTH_CODES:
        status = 401
    elif status < 400:
        # Slack reports most errors with HTTP 200 and ok=false; judge them by their code.
        status = 503 if code in RETRYABLE_CODES else 400
    return classify_status(
        message, service="slack", operation=operation, status=status, code=code, retry_after=retry_after
    )


class SlackRequestVerifier:
    """Checks Events API requests: ``v0`` HMAC-SHA256 signature over ``v0:{timestamp}:{body}``,
    timestamp within five minutes (no replays)."""

    def __init__(self, signing_secret: str, *, clock: Clock | None = None) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=clock or Clock())

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackRequestVerifier:
        """The verifier for SLACK_SIGNING_SECRET; ConfigurationError when it is unset (fail closed)."""
        if settings.slack_signing_secret is None or not settings.slack_signing_secret.get_secret_value():
            raise ConfigurationError("SLACK_SIGNING_SECRET is not set: every Slack request is refused until it is")
        return cls(settings.slack_signing_secret.get_secret_value())

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Return if the request is genuine; raise :class:`WebhookVerificationError` saying why not."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            raise WebhookVerificationError("Slack request lacks X-Slack-Request-Timestamp or X-Slack-Signature")
        try:
            age = abs(self._verifier.clock.now() - int(timestamp))
        except ValueError as exc:
            raise WebhookVerificationError(f"Slack request timestamp {timestamp!r} is not a number") from exc
        if age > SIGNATURE_WINDOW_SECONDS:
            raise WebhookVerificationError(
                f"Slack request timestamp is {int(age)} s away from now "
                f"(allowed {SIGNATURE_WINDOW_SECONDS} s): refused as a replay"
            )
        if not self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            raise WebhookVerificationError("Slack request signature does not match the body and signing secret")

    def sign(self, body: bytes, timestamp: int) -> dict[str, str]:
        """Headers Slack would send for ``body`` at ``timestamp`` (for tests and the demo)."""
        signature = self._verifier.generate_signature(timestamp=str(timestamp), body=body)
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature or ""}
