"""Gmail: incremental sync by history id, messages with their PDF attachments, drafts made once.

Sync: :meth:`GmailClient.start_history_id` gives the cursor to keep after a
full sync (:meth:`list_messages`); :meth:`list_history` returns what arrived
since a cursor, or raises :class:`SyncCursorExpiredError` when Gmail no longer
has that history (HTTP 404: do a full sync again).

Drafts: each draft gets a ``Message-ID`` derived from the caller's key;
:meth:`create_draft` searches ``rfc822msgid:`` first, so a retry after a lost
answer finds the draft already made.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

from pydantic import BaseModel

from core.settings import Settings
from integrations.errors import IntegrationError, SyncCursorExpiredError
from integrations.google import GoogleApi, list_request

DRAFT_ID_DOMAIN = "intake.invalid"


class GmailMessageRef(BaseModel):
    id: str
    thread_id: str


class GmailAttachment(BaseModel):
    attachment_id: str
    filename: str
    mime_type: str
    size: int

    @property
    def is_pdf(self) -> bool:
        return self.mime_type == "application/pdf" or self.filename.lower().endswith(".pdf")


class GmailMessage(BaseModel):
    """A message with the headers and text the pipelines read, and its attachments (not their bytes)."""

    id: str
    thread_id: str
    history_id: str
    label_ids: list[str]
    received_at: datetime
    sender: str
    to: str
    subject: str
    message_id_header: str
    snippet: str
    body_text: str
    attachments: list[GmailAttachment]


class GmailHistory(BaseModel):
    """Messages added since a history id, and the history id to continue from next time."""

    added: list[GmailMessageRef]
    history_id: str


class GmailDraft(BaseModel):
    """A draft; ``created`` is False when an earlier attempt had already made it."""

    id: str
    message_id: str
    thread_id: str
    created: bool


class GmailApi(Protocol):
    """What signal ingestion, approvals and work-order intake need from Gmail."""

    async def start_history_id(self, user: str) -> str: ...

    async def list_history(
        self, user: str, start_history_id: str, *, label_id: str | None = "INBOX"
    ) -> GmailHistory: ...

    async def list_messages(
        self, user: str, *, query: str | None = None, label_ids: tuple[str, ...] = ("INBOX",), limit: int | None = None
    ) -> list[GmailMessageRef]: ...

    async def get_message(self, user: str, message_id: str) -> GmailMessage: ...

    async def get_attachment(self, user: str, message_id: str, attachment_id: str) -> bytes: ...

    async def find_draft(self, user: str, key: str) -> GmailDraft | None: ...

    async def create_draft(
        self,
        user: str,
        *,
        key: str,
        to: str,
        subject: str,
        body: str,
        thread_id: str | None = None,
        look_first: bool = True,
    ) -> GmailDraft: ...

    async def aclose(self) -> None: ...


class GmailClient:
    """:class:`GmailApi` on ``google-api-python-client``; ``user`` is an address or ``"me"``."""

    def __init__(self, *, token: str, root_url: str, timeout: float = 30.0, page_size: int = 100) -> None:
        self._api = GoogleApi("gmail", "v1", root_url=root_url, token=token, timeout=timeout)
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> GmailClient:
        return cls(
            token=settings.google_token.get_secret_value(),
            root_url=settings.service_base_url("gmail"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        """Nothing to close: connections belong to worker threads."""

    async def start_history_id(self, user: str) -> str:
        """The mailbox's current history id: the cursor after a full sync."""
        profile = await self._api.execute("users.getProfile", lambda g: g.collection("users").getProfile(userId=user))
        return str(profile["historyId"])

    async def list_history(self, user: str, start_history_id: str, *, label_id: str | None = "INBOX") -> GmailHistory:
        """Messages added after ``start_history_id`` (all pages); 404 means the cursor expired."""
        added: dict[str, GmailMessageRef] = {}
        token: str | None = None
        latest = start_history_id
        while True:
            params: dict[str, Any] = {
                "userId": user,
                "startHistoryId": start_history_id,
                "historyTypes": ["messageAdded"],
                "maxResults": self._page_size,
            }
            if label_id:
                params["labelId"] = label_id
            if token:
                params["pageToken"] = token
            try:
                page = await self._api.execute("users.history.list", list_request("users.history", params))
            except IntegrationError as exc:
                if exc.status == 404:
                    raise SyncCursorExpiredError(
                        f"history id {start_history_id} is too old; a full sync is needed",
                        service="gmail",
                        operation="users.history.list",
                        status=404,
                        code=exc.code,
                    ) from exc
                raise
            for record in page.get("history", []):
                for item in record.get("messagesAdded", []):
                    message = item["message"]
                    added.setdefault(message["id"], GmailMessageRef(id=message["id"], thread_id=message["threadId"]))
            latest = str(page.get("historyId", latest))
            token = page.get("nextPageToken")
            if not token:
                return GmailHistory(added=list(added.values()), history_id=latest)

    async def list_messages(
        self, user: str, *, query: str | None = None, label_ids: tuple[str, ...] = ("INBOX",), limit: int | None = None
    ) -> list[GmailMessageRef]:
        """Messages matching a Gmail search ``query`` and labels, newest first, following pages."""
        refs: list[GmailMessageRef] = []
        token: str | None = None
        while limit is None or len(refs) < limit:
            params: dict[str, Any] = {"userId": user, "maxResults": self._page_size}
            if query:
                params["q"] = query
            if label_ids:
                params["labelIds"] = list(label_ids)
            if token:
                params["pageToken"] = token
            page = await self._api.execute("users.messages.list", list_request("users.messages", params))
            refs.extend(GmailMessageRef(id=m["id"], thread_id=m["threadId"]) for m in page.get("messages", []))
            token = page.get("nextPageToken")
            if not token:
                break
        return refs if limit is None else refs[:limit]

    async def get_message(self, user: str, message_id: str) -> GmailMessage:
        data = await self._api.execute(
            "users.messages.get",
            lambda g: g.collection("users.messages").get(userId=user, id=message_id, format="full"),
        )
        payload = data.get("payload") or {}
        headers = {h["name"].lower(): h["value"] for h in payload.get("headers", [])}
        texts: list[str] = []
        attachments: list[GmailAttachment] = []
        _walk(payload, texts, attachments)
        return GmailMessage(
            id=data["id"],
            thread_id=data["threadId"],
            history_id=str(data.get("historyId", "")),
            label_ids=data.get("labelIds", []),
            received_at=datetime.fromtimestamp(int(data.get("internalDate", "0")) / 1000, tz=UTC),
            sender=headers.get("from", ""),
            to=headers.get("to", ""),
            subject=headers.get("subject", ""),
            message_id_header=headers.get("message-id", ""),
            snippet=data.get("snippet", ""),
            body_text="\n".join(texts),
            attachments=attachments,
        )

    async def get_attachment(self, user: str, message_id: str, attachment_id: str) -> bytes:
        data = await self._api.execute(
            "users.messages.attachments.get",
            lambda g: g.collection("users.messages.attachments").get(
                userId=user, messageId=message_id, id=attachment_id
            ),
        )
        return _unb64url(data["data"])

    async def find_draft(self, user: str, key: str) -> GmailDraft | None:
        """The draft made for ``key``, if there is one (found by its Message-ID)."""
        page = await self._api.execute(
            "users.drafts.list",
            lambda g: g.collection("users.drafts").list(
                userId=user, q=f"rfc822msgid:{draft_message_id(key)}", maxResults=1
            ),
        )
        drafts = page.get("drafts") or []
        if not drafts:
            return None
        draft = drafts[0]
        return GmailDraft(
            id=draft["id"], message_id=draft["message"]["id"], thread_id=draft["message"]["threadId"], created=False
        )

    async def create_draft(
        self,
        user: str,
        *,
        key: str,
        to: str,
        subject: str,
        body: str,
        thread_id: str | None = None,
        look_first: bool = True,
    ) -> GmailDraft:
        """Create the draft once per ``key`` (its Message-ID): when an earlier attempt may have made it
        (``look_first``), the draft found by the key is returned instead of a second one."""
        existing = await self.find_draft(user, key) if look_first else None
        if existing is not None:
            return existing
        mail = EmailMessage()
        mail["To"] = to
        mail["Subject"] = subject
        mail["Message-ID"] = f"<{draft_message_id(key)}>"
        mail.set_content(body)
        message: dict[str, Any] = {"raw": base64.urlsafe_b64encode(bytes(mail)).decode()}
        if thread_id:
            message["threadId"] = thread_id
        data = await self._api.execute(
            "users.drafts.create", lambda g: g.collection("users.drafts").create(userId=user, body={"message": message})
        )
        return GmailDraft(
            id=data["id"], message_id=data["message"]["id"], thread_id=data["message"]["threadId"], created=True
        )


def draft_message_id(key: str) -> str:
    """A Message-ID (without angle brackets) that only the draft for ``key`` carries."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "", key)
    if safe != key or not safe:
        safe = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"draft.{safe}@{DRAFT_ID_DOMAIN}"


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _walk(part: dict[str, Any], texts: list[str], attachments: list[GmailAttachment]) -> None:
    """Collect text/plain bodies and attachments from a MIME part tree."""
    body = part.get("body") or {}
    if part.get("filename") and body.get("attachmentId"):
        attachments.append(
            GmailAttachment(
                attachment_id=body["attachmentId"],
                filename=part["filename"],
                mime_type=part.get("mimeType", "application/octet-stream"),
                size=int(body.get("size", 0)),
            )
        )
    elif part.get("mimeType") == "text/plain" and body.get("data"):
        texts.append(_unb64url(body["data"]).decode("utf-8", "replace"))
    for child in part.get("parts", []) or []:
        _walk(child, texts, attachments)
