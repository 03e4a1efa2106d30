"""What can go wrong when calling an outside service, in the three kinds activities act on.

* :class:`RetryableIntegrationError` - 5xx, timeouts, dropped connections, 429
  rate limits (``retry_after`` carries the server's Retry-After), malformed
  answers: try again later.
* :class:`QuotaExceededError` - a quota is used up: stop calling until it resets.
* :class:`PermanentIntegrationError` - the request itself is wrong (validation,
  auth, not found): trying again will not help.

Plus two expected conditions a caller branches on: :class:`SyncCursorExpiredError`
(a Gmail history id or Calendar sync token is too old: do a full sync) and
:class:`WebhookVerificationError` (an inbound webhook failed its signature or
passcode check).
"""

from __future__ import annotations

import email.utils
import time
from typing import ClassVar, Literal, Required, TypedDict, Unpack

from core.errors import IntakeError

ErrorKind = Literal["retryable", "quota", "permanent", "cursor_expired"]

# Error codes / reasons that mean "quota used up" rather than "slow down".
QUOTA_CODES = frozenset({"quotaExceeded", "dailyLimitExceeded", "insufficient_quota", "billing_hard_limit_reached"})
RATE_LIMIT_CODES = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "ratelimited", "rate_limited", "rate_limit_exceeded"}
)


class ErrorContext(TypedDict, total=False):
    """The keyword arguments every IntegrationError takes: which call failed, and how."""

    service: Required[str]
    operation: Required[str]
    status: int | None
    code: str | None


class IntegrationError(IntakeError):
    """A call to an outside service failed."""

    kind: ClassVar[ErrorKind]
    retryable = False  # quota, permanent, an expired cursor: only RetryableIntegrationError is

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        detail = ", ".join(p for p in (f"HTTP {status}" if status else "", code or "") if p)
        super().__init__(f"{service} {operation} failed{f' ({detail})' if detail else ''}: {message}")
        self.service = service
        self.operation = operation
        self.status = status
        self.code = code


class RetryableIntegrationError(IntegrationError):
    """The call may succeed if tried again later (5xx, timeout, connection, rate limit)."""

    kind = "retryable"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Unpack[ErrorContext]) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimitedError(RetryableIntegrationError):
    """The service asked us to slow down (HTTP 429); ``retry_after`` says for how long, when it said."""


class MalformedResponseError(RetryableIntegrationError):
    """The service answered, but not in the shape we asked for (e.g. an LLM's invalid JSON)."""


class QuotaExceededError(IntegrationError):
    """A quota of the service is used up: stop calling it (do not hammer) until it resets."""

    kind = "quota"


class PermanentIntegrationError(IntegrationError):
    """The request is wrong (validation, not found, forbidden): retrying it will not help."""

    kind = "permanent"


class AuthenticationError(PermanentIntegrationError):
    """The service refused our credentials (missing, invalid, revoked or lacking scope)."""


class SyncCursorExpiredError(IntegrationError):
    """An incremental-sync cursor (Gmail historyId, Calendar syncToken) expired: do a full sync."""

    kind = "cursor_expired"


class WebhookVerificationError(IntakeError):
    """An inbound webhook failed its signature, timestamp or passcode check; it must be refused."""

    retryable = False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_status(
    message: str,
    *,
    service: str,
    operation: str,
    status: int,
    code: str | None = None,
    retry_after: float | None = None,
) -> IntegrationError:
    """The error of the right kind for an HTTP failure ``status`` with the service's error ``code``."""
    common: ErrorContext = {"service": service, "operation": operation, "status": status, "code": code}
    if code in QUOTA_CODES:
        return QuotaExceededError(message, **common)
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimitedError(message, retry_after=retry_after, **common)
    if status in (401, 403):
        return AuthenticationError(message, **common)
    if status == 408 or status >= 500:
        return RetryableIntegrationError(message, retry_after=retry_after, **common)
    return PermanentIntegrationError(message, **common)
