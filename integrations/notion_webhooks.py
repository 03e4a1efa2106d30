"""Notion webhooks: the signature every event carries.

A subscription's first request holds a one-time ``verification_token``; every later
event carries ``X-Notion-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by
that token>``, compared here in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from integrations.errors import WebhookVerificationError

SIGNATURE_PREFIX = "sha256="


def notion_signature(body: bytes, verification_token: str) -> str:
    """The ``X-Notion-Signature`` value Notion sends with ``body`` (for tests and the demo)."""
    return SIGNATURE_PREFIX + hmac.new(verification_token.encode(), body, hashlib.sha256).hexdigest()


def verify_notion_signature(body: bytes, signature: str | None, verification_token: str) -> None:
    """Return if ``signature`` signs ``body`` with the token; raise WebhookVerificationError saying why not."""
    if not signature:
        raise WebhookVerificationError("Notion request lacks X-Notion-Signature")
    if not signature.startswith(SIGNATURE_PREFIX):
        raise WebhookVerificationError("X-Notion-Signature is not of the form sha256=<hex>")
    if not hmac.compare_digest(signature.encode(), notion_signature(body, verification_token).encode()):
        raise WebhookVerificationError("X-Notion-Signature does not match the body and the verification token")
