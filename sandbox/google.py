"""Gmail v1, Calendar v3 and Sheets v4 subsets, at the paths the static discovery documents build.

Errors follow Google's JSON format::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
               "errors": [{"message": "...", "domain": "usageLimits", "reason": "rateLimitExceeded"}]}}

A rate limit is ``rateLimitExceeded`` with Retry-After; an exhausted quota is
``quotaExceeded``. An expired Gmail ``startHistoryId`` is 404; an expired
Calendar ``syncToken`` is 410 ``fullSyncRequired``; inserting a Calendar event
whose client-chosen ``id`` exists is 409 ``duplicate``.
"""

from __future__ import annotations

import base64
import copy
import re
import shlex
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, Service, bearer_token, control_error, control_json, json_response
from sandbox.seed_mail import SEED_EVENTS, SEED_SHEETS, SPREADSHEET_ID, USERS, seed_mail


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


# ======================================================================================
# Gmail
# ======================================================================================
class Mailbox:
    def __init__(self, email: str, history_start: int) -> None:
        self.email = email
        self.messages: list[dict[str, Any]] = []  # oldest first
        self.history: list[tuple[int, str]] = []  # (history id, message id)
        self.history_id = history_start
        self.min_history_id = history_start
        self.drafts: list[dict[str, Any]] = []
        # Deleted messages by id: gone from messages.get / list, still named by history records
        # written before the delete (as Gmail's are: a client fetching one gets 404).
        self.deleted: dict[str, dict[str, Any]] = {}


class GmailService(GoogleService):
    name = "gmail"

    def reset(self) -> None:
        self.created = {}
        self.mailboxes: dict[str, Mailbox] = {}
        for email, mails in seed_mail().items():
            # History ids start later than any an earlier sandbox issued: a cursor it handed out is
            # then too old here (404, a full resync), never one that skips what arrives here.
            box = Mailbox(email, history_start=self.ids.tick())
            self.mailboxes[email] = box
            for mail in mails:
                self._deliver(
                    box,
                    seeded=True,
                    sender=mail.sender,
                    subject=mail.subject,
                    body=mail.body,
                    date=mail.date,
                    internal_ms=mail.internal_ms,
                    attachments=[(a.filename, a.mime_type, a.data) for a in mail.attachments],
                )

    def fixtures(self) -> dict[str, Any]:
        return {
            "users": USERS,
            "me": USERS[0],
            "mailboxes": {
                email: {
                    "history_id": str(box.history_id),
                    "messages": len(box.messages),
                    "pdf_attachments": sum(
                        1 for m in box.messages for a in m["attachments"] if a["mime_type"] == "application/pdf"
                    ),
                }
                for email, box in self.mailboxes.items()
            },
        }

    def endpoints(self) -> list[Endpoint]:
        base = "/gmail/v1/users/{user_id}"
        return [
            Endpoint("GET", base + "/profile", "users.getProfile", self.get_profile),
            Endpoint("GET", base + "/history", "users.history.list", self.list_history),
            Endpoint("GET", base + "/messages", "users.messages.list", self.list_messages),
            Endpoint("GET", base + "/messages/{id}", "users.messages.get", self.get_message),
            Endpoint(
                "GET",
                base + "/messages/{message_id}/attachments/{id}",
                "users.messages.attachments.get",
                self.get_attachment,
            ),
            Endpoint("POST", base + "/drafts", "users.drafts.create", self.create_draft, write=True),
            Endpoint("GET", base + "/drafts", "users.drafts.list", self.list_drafts),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/users/{user_id}/messages", self.control_deliver),
            ("POST", "/users/{user_id}/expire-history", self.control_expire_history),
            ("DELETE", "/users/{user_id}/messages/{id}", self.control_delete),
        ]

    # --- state helpers ----------------------------------------------------------------
    def _box(self, request: web.Request) -> Mailbox | None:
        user = request.match_info["user_id"]
        return self.mailboxes.get(USERS[0] if user == "me" else user)

    def _new_id(self, seeded: bool = False) -> str:
        """16 hex digits as Gmail's: a time in milliseconds, then 5 more (the seed data's from the seed)."""
        if seeded:
            return f"{0x18F00000000 + self.ids.next():x}{self.ids.hex(5)}"
        tick = self.ids.tick()
        return f"{tick // 1000:011x}{(tick % 1000) << 10 | self.ids.fresh.getrandbits(10):05x}"

    def _add(self, box: Mailbox, message: dict[str, Any]) -> None:
        box.history_id += 1
        message["historyId"] = str(box.history_id)
        box.messages.append(message)
        box.history.append((box.history_id, message["id"]))

    def _deliver(
        self,
        box: Mailbox,
        *,
        sender: str,
        subject: str,
        body: str,
        date: str,
        internal_ms: int,
        attachments: list[tuple[str, str, bytes]],
        labels: list[str] | None = None,
        seeded: bool = False,
    ) -> dict[str, Any]:
        message_id = self._new_id(seeded)
        attachment_hex = self.ids.hex if seeded else self.ids.unique_hex
        message = {
            "id": message_id,
            "threadId": message_id,
            "labelIds": labels or ["INBOX", "UNREAD"],
            "internalDate": str(internal_ms),
            "headers": [
                ("From", sender),
                ("To", box.email),
                ("Subject", subject),
                ("Date", date),
                ("Message-ID", f"<{message_id}@mail.sandbox.example>"),
            ],
            "text": body,
            "attachments": [
                {"attachmentId": f"ANGjdJ{attachment_hex(24)}", "filename": f, "mime_type": m, "data": d}
                for f, m, d in attachments
            ],
        }
        self._add(box, message)
        return message

    @staticmethod
    def _header(message: dict[str, Any], name: str) -> str:
        return next((v for k, v in message["headers"] if k.lower() == name.lower()), "")

    def _render(self, message: dict[str, Any], fmt: str, metadata_headers: list[str]) -> dict[str, Any]:
        text = message["text"]
        out: dict[str, Any] = {
            "id": message["id"],
            "threadId": message["threadId"],
            "labelIds": list(message["labelIds"]),
            "snippet": text[:200],
            "historyId": message["historyId"],
            "internalDate": message["internalDate"],
            "sizeEstimate": len(text) + sum(len(a["data"]) for a in message["attachments"]),
        }
        if fmt == "minimal":
            return out
        if fmt == "raw":
            out["raw"] = _b64url(self._rfc822(message))
            return out
        headers = [{"name": k, "value": v} for k, v in message["headers"]]
        if fmt == "metadata":
            wanted = {h.lower() for h in metadata_headers}
            out["payload"] = {
                "mimeType": "multipart/mixed" if message["attachments"] else "text/plain",
                "headers": [h for h in headers if not wanted or h["name"].lower() in wanted],
            }
            return out
        text_part = {
            "mimeType": "text/plain",
            "filename": "",
            "headers": [{"name": "Content-Type", "value": 'text/plain; charset="UTF-8"'}],
            "body": {"size": len(text.encode()), "data": _b64url(text.encode())},
        }
        if not message["attachments"]:
            out["payload"] = {"partId": "", **text_part, "headers": headers + text_part["headers"]}
            return out
        parts = [{"partId": "0", **text_part}]
        for n, att in enumerate(message["attachments"], start=1):
            parts.append(
                {
                    "partId": str(n),
                    "mimeType": att["mime_type"],
                    "filename": att["filename"],
                    "headers": [
                        {"name": "Content-Type", "value": f'{att["mime_type"]}; name="{att["filename"]}"'},
                        {"name": "Content-Disposition", "value": f'attachment; filename="{att["filename"]}"'},
                        {"name": "Content-Transfer-Encoding", "value": "base64"},
                    ],
                    "body": {"attachmentId": att["attachmentId"], "size": len(att["data"])},
                }
            )
        out["payload"] = {
            "partId": "",
            "mimeType": "multipart/mixed",
            "filename": "",
            "headers": headers,
            "body": {"size": 0},
            "parts": parts,
        }
        return out

    def _rfc822(self, message: dict[str, Any]) -> bytes:
        mail = EmailMessage()
        for k, v in message["headers"]:
            mail[k] = v
        mail.set_content(message["text"])
        for att in message["attachments"]:
            maintype, _, subtype = att["mime_type"].partition("/")
            mail.add_attachment(att["data"], maintype=maintype, subtype=subtype, filename=att["filename"])
        return bytes(mail)

    def _matches(self, message: dict[str, Any], query: str) -> bool:
        """A subset of Gmail search: rfc822msgid:, has:attachment, filename:, from:, to:, subject:, in:, words."""
        try:
            terms = shlex.split(query)
        except ValueError:
            terms = query.split()
        labels = set(message["labelIds"])
        for term in terms:
            op, sep, value = term.partition(":")
            op = op.lower() if sep else ""
            value = value.lower()
            if op == "rfc822msgid":
                # Leading whitespace of a folded header is not part of the value (RFC 5322 unfolding).
                if self._header(message, "Message-ID").strip().strip("<>").lower() != value.strip("<>"):
                    return False
            elif op == "has" and value == "attachment":
                if not message["attachments"]:
                    return False
            elif op == "filename":
                if not any(
                    a["filename"].lower() == value or a["filename"].lower().endswith("." + value)
                    for a in message["attachments"]
                ):
                    return False
            elif op in ("from", "to", "subject"):
                if value not in self._header(message, op).lower():
                    return False
            elif op in ("in", "label"):
                if value.upper() not in labels:
                    return False
            else:
                haystack = f"{self._header(message, 'Subject')} {message['text']}".lower()
                if term.lower() not in haystack:
                    return False
        return True

    # --- API --------------------------------------------------------------------------
    async def get_profile(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        return json_response(
            {
                "emailAddress": box.email,
                "messagesTotal": len(box.messages),
                "threadsTotal": len({m["threadId"] for m in box.messages}),
                "historyId": str(box.history_id),
            }
        )

    async def list_history(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        start = request.query.get("startHistoryId", "")
        if not start.isdigit():
            return self.bad_request("Invalid startHistoryId" if start else "Missing startHistoryId", "invalidArgument")
        if int(start) < box.min_history_id:
            return self.not_found()
        try:
            size = self.max_results(request, 100, 500)
        except ValueError as exc:
            return self.bad_request(str(exc))
        types = request.query.getall("historyTypes", [])
        if types and "messageAdded" not in types:
            records: list[tuple[int, str]] = []
        else:
            records = [(hid, mid) for hid, mid in box.history if hid > int(start)]
        label = request.query.get("labelId")
        by_id = {**box.deleted, **{m["id"]: m for m in box.messages}}
        records = [(h, m) for h, m in records if m in by_id and (label is None or label in by_id[m]["labelIds"])]
        try:
            page, nxt = _page(records, request.query.get("pageToken"), size)
        except ValueError:
            return self.bad_request("Invalid pageToken")
        body: dict[str, Any] = {"historyId": str(box.history_id)}
        if page:
            body["history"] = []
            for hid, mid in page:
                ref = {"id": mid, "threadId": by_id[mid]["threadId"]}
                body["history"].append(
                    {
                        "id": str(hid),
                        "messages": [ref],
                        "messagesAdded": [{"message": {**ref, "labelIds": list(by_id[mid]["labelIds"])}}],
                    }
                )
        if nxt:
            body["nextPageToken"] = nxt
        return json_response(body)

    async def list_messages(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        try:
            size = self.max_results(request, 100, 500)
        except ValueError as exc:
            return self.bad_request(str(exc))
        labels = request.query.getall("labelIds", [])
        query = request.query.get("q", "")
        found = [
            m
            for m in reversed(box.messages)
            if all(label in m["labelIds"] for label in labels) and self._matches(m, query)
        ]
        try:
            page, nxt = _page(found, request.query.get("pageToken"), size)
        except ValueError:
            return self.bad_request("Invalid pageToken")
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            body["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in page]
        if nxt:
            body["nextPageToken"] = nxt
        return json_response(body)

    async def get_message(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        fmt = request.query.get("format", "full")
        if fmt not in ("full", "metadata", "minimal", "raw"):
            return self.bad_request(f"Invalid value at 'format' ({fmt})")
        message = next((m for m in box.messages if m["id"] == request.match_info["id"]), None)
        if message is None:
            return self.not_found()
        return json_response(self._render(message, fmt, request.query.getall("metadataHeaders", [])))

    async def get_attachment(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        message = next((m for m in box.messages if m["id"] == request.match_info["message_id"]), None)
        if message is None:
            return self.not_found()
        att = next((a for a in message["attachments"] if a["attachmentId"] == request.match_info["id"]), None)
        if att is None:
            return self.bad_request("Invalid attachment token", "invalidArgument")
        return json_response(
            {"attachmentId": att["attachmentId"], "size": len(att["data"]), "data": _b64url(att["data"])}
        )

    async def create_draft(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        body = await self.json_body(request)
        raw = ((body or {}).get("message") or {}).get("raw")
        if not isinstance(raw, str) or not raw:
            return self.bad_request("Missing draft message", "invalidArgument")
        try:
            parsed = BytesParser(policy=policy.default).parsebytes(_unb64url(raw))
        except ValueError:
            return self.bad_request("Invalid value for ByteString: message.raw", "invalidArgument")
        if not parsed.get("To"):
            return self.bad_request("Invalid To header", "invalidArgument")
        text_part = parsed.get_body(preferencelist=("plain", "html"))
        message_id = self._new_id()
        headers = [(k, str(v)) for k, v in parsed.items()]
        if not any(k.lower() == "message-id" for k, _ in headers):
            headers.append(("Message-ID", make_msgid(domain="mail.sandbox.example")))
        thread_id = (body or {}).get("message", {}).get("threadId") or message_id
        message = {
            "id": message_id,
            "threadId": thread_id,
            "labelIds": ["DRAFT"],
            "internalDate": str(int(datetime.now(UTC).timestamp() * 1000)),
            "headers": headers,
            "text": text_part.get_content() if text_part is not None else "",
            "attachments": [],
        }
        self._add(box, message)
        draft = {
            "id": f"r{self.ids.fresh.randrange(10**18, 10**19)}",
            "message": {"id": message_id, "threadId": thread_id, "labelIds": ["DRAFT"]},
        }
        box.drafts.append(draft)
        self.record_created(
            "drafts",
            {
                "user": box.email,
                "id": draft["id"],
                "message_id": message_id,
                "thread_id": thread_id,
                "headers": dict(headers),
                "to": str(parsed.get("To")),
                "subject": str(parsed.get("Subject", "")),
                "body": message["text"],
            },
        )
        return json_response(draft)

    async def list_drafts(self, request: web.Request) -> web.Response:
        box = self._box(request)
        if box is None:
            return self.not_found()
        try:
            size = self.max_results(request, 100, 500)
        except ValueError as exc:
            return self.bad_request(str(exc))
        by_id = {m["id"]: m for m in box.messages}
        query = request.query.get("q", "")
        found = [d for d in reversed(box.drafts) if self._matches(by_id[d["message"]["id"]], query)]
        try:
            page, nxt = _page(found, request.query.get("pageToken"), size)
        except ValueError:
            return self.bad_request("Invalid pageToken")
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            body["drafts"] = [
                {"id": d["id"], "message": {"id": d["message"]["id"], "threadId": d["message"]["threadId"]}}
                for d in page
            ]
        if nxt:
            body["nextPageToken"] = nxt
        return json_response(body)

    # --- control ----------------------------------------------------------------------
    async def control_deliver(self, request: web.Request) -> web.Response:
        """Deliver a new mail.

        Body: ``{"from", "subject", "body", "attachments": [{"filename", "mime_type", "data_base64"}]}``.
        """
        box = self._box(request)
        if box is None:
            return control_error(f"no mailbox {request.match_info['user_id']!r}; known: {list(self.mailboxes)}", 404)
        body = await control_json(request)
        try:
            attachments = [
                (a["filename"], a.get("mime_type", "application/pdf"), base64.b64decode(a["data_base64"]))
                for a in body.get("attachments", [])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            return control_error(f"each attachment needs 'filename' and base64 'data_base64': {exc}")
        now = datetime.now(UTC)
        message = self._deliver(
            box,
            sender=str(body.get("from", "Sender <sender@example.com>")),
            subject=str(body.get("subject", "(no subject)")),
            body=str(body.get("body", "")),
            date=now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            internal_ms=int(now.timestamp() * 1000),
            attachments=attachments,
        )
        return json_response({"id": message["id"], "threadId": message["threadId"], "historyId": message["historyId"]})

    async def control_expire_history(self, request: web.Request) -> web.Response:
        """Forget history so far: every history id issued until now gets 404 (as after about a week).

        The mailbox's history id moves on by one, so the id a full resync then reads (the
        profile's ``historyId``) is newer than every forgotten one and is accepted next time.
        """
        box = self._box(request)
        if box is None:
            return control_error(f"no mailbox {request.match_info['user_id']!r}", 404)
        box.history_id += 1
        box.min_history_id = box.history_id
        return json_response({"ok": True, "min_history_id": str(box.min_history_id)})

    async def control_delete(self, request: web.Request) -> web.Response:
        """The user deletes a message: messages.get answers 404, history still lists its arrival."""
        box = self._box(request)
        if box is None:
            return control_error(f"no mailbox {request.match_info['user_id']!r}", 404)
        message = next((m for m in box.messages if m["id"] == request.match_info["id"]), None)
        if message is None:
            return control_error(f"no message {request.match_info['id']!r}", 404)
        box.messages.remove(message)
        box.deleted[message["id"]] = message
        return json_response({"ok": True, "id": message["id"]})


# ======================================================================================
# Calendar
# ======================================================================================
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
EVENT_ID_CHARS = "0123456789abcdefghijklmnopqrstuv"  # base32hex, as Calendar's own event ids
SYNC_INCOMPATIBLE = ("timeMin", "timeMax", "q", "orderBy", "updatedMin", "iCalUID", "privateExtendedProperty")


def _when(value: dict[str, Any] | None) -> datetime | None:
    if not value:
        return None
    if "dateTime" in value:
        return datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    if "date" in value:
        return datetime.fromisoformat(str(value["date"])).replace(tzinfo=UTC)
    return None


class CalendarState:
    def __init__(self, calendar_id: str, first_version: int) -> None:
        self.calendar_id = calendar_id
        self.events: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.version = first_version
        self.min_sync_version = first_version


class CalendarService(GoogleService):
    name = "calendar"

    def reset(self) -> None:
        self.created = {}
        self.calendars: dict[str, CalendarState] = {}
        for calendar_id, events in SEED_EVENTS.items():
            # Versions (in sync tokens) start later than any an earlier sandbox issued: its tokens
            # are then too old here (410, a full resync), never ones that skip what changes here.
            state = CalendarState(calendar_id, first_version=self.ids.tick())
            self.calendars[calendar_id] = state
            for event in events:
                self._store(
                    state, self._event(calendar_id, copy.deepcopy(event), "2024-06-01T00:00:00.000Z", seeded=True)
                )

    def fixtures(self) -> dict[str, Any]:
        return {"primary": USERS[0], "calendars": {cid: len(c.events) for cid, c in self.calendars.items()}}

    def endpoints(self) -> list[Endpoint]:
        base = "/calendar/v3/calendars/{calendar_id}/events"
        return [
            Endpoint("GET", base, "events.list", self.list_events),
            Endpoint("POST", base, "events.insert", self.insert_event, write=True),
            Endpoint("GET", base + "/{event_id}", "events.get", self.get_event),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/calendars/{calendar_id}/events", self.control_add_event),
            ("POST", "/calendars/{calendar_id}/expire-sync-tokens", self.control_expire),
        ]

    def _calendar(self, request: web.Request) -> CalendarState | None:
        cid = request.match_info["calendar_id"]
        return self.calendars.get(USERS[0] if cid == "primary" else cid)

    def _new_event_id(self, seeded: bool) -> str:
        """An event id as Calendar makes them (base32hex); the seed data's from the seed."""
        if seeded:
            return f"{self.ids.next():05d}{self.ids.hex(20)}".translate(str.maketrans("wxyz", "0123"))
        return self.ids.unique_chars(EVENT_ID_CHARS, 26)

    def _event(self, calendar_id: str, body: dict[str, Any], now: str, seeded: bool = False) -> dict[str, Any]:
        event_id = body.get("id") or self._new_event_id(seeded)
        body.update(
            kind="calendar#event",
            id=event_id,
            etag=f'"{3400000000000000 + self.ids.next()}"',
            status=body.get("status", "confirmed"),
            htmlLink=f"https://www.google.com/calendar/event?eid={event_id}",
            created=now,
            updated=now,
            iCalUID=f"{event_id}@google.com",
            sequence=0,
            creator={"email": calendar_id, "self": True},
            organizer={"email": calendar_id, "self": True},
            reminders=body.get("reminders", {"useDefault": True}),
            eventType=body.get("eventType", "default"),
        )
        return body

    @staticmethod
    def _store(state: CalendarState, event: dict[str, Any]) -> None:
        state.version += 1
        state.events[event["id"]] = event
        state.versions[event["id"]] = state.version

    def _sync_token(self, state: CalendarState) -> str:
        return _b64url(f"{state.calendar_id}|{state.version}".encode())

    def _validate(self, body: dict[str, Any] | None) -> tuple[dict[str, Any] | None, web.Response | None]:
        if body is None:
            return None, self.bad_request("Parse Error", "parseError")
        if "id" in body and not (isinstance(body["id"], str) and EVENT_ID.match(body["id"])):
            return None, self.bad_request("Invalid resource id value.")
        start, end = body.get("start"), body.get("end")
        if not start:
            return None, self.bad_request("Missing start time.", "required")
        if not end:
            return None, self.bad_request("Missing end time.", "required")
        try:
            begins, ends = _when(start), _when(end)
        except (TypeError, ValueError):
            return None, self.bad_request("Invalid start or end time.")
        if begins is None or ends is None:
            return None, self.bad_request("Start and end times must either both be date or both be dateTime.")
        if ends < begins:
            return None, self.bad_request("The specified time range is empty.", "timeRangeEmpty")
        return body, None

    async def list_events(self, request: web.Request) -> web.Response:
        state = self._calendar(request)
        if state is None:
            return self.not_found("Not Found")
        query = request.query
        try:
            size = self.max_results(request, 250, 2500)
        except ValueError as exc:
            return self.bad_request(str(exc))
        events = sorted(state.events.values(), key=lambda e: state.versions[e["id"]])
        sync_token = query.get("syncToken")
        if sync_token:
            clashing = [p for p in SYNC_INCOMPATIBLE if p in query]
            if clashing:
                return self.bad_request(f"Sync token cannot be used with these parameters: {', '.join(clashing)}.")
            try:
                cid, _, version = _unb64url(sync_token).decode().partition("|")
                since = int(version)
            except ValueError:
                return self.bad_request("Invalid sync token value.")
            if cid != state.calendar_id or since < state.min_sync_version:
                return google_error(
                    410,
                    "Sync token is no longer valid, a full sync is required.",
                    "fullSyncRequired",
                    "GONE",
                )
            events = [e for e in events if state.versions[e["id"]] > since]
        else:
            try:
                tmin = datetime.fromisoformat(query["timeMin"].replace("Z", "+00:00")) if "timeMin" in query else None
                tmax = datetime.fromisoformat(query["timeMax"].replace("Z", "+00:00")) if "timeMax" in query else None
            except ValueError:
                return self.bad_request("Bad Request: timeMin/timeMax must be RFC3339 timestamps.")
            if tmin is not None:
                events = [e for e in events if (_when(e["end"]) or tmin) > tmin]
            if tmax is not None:
                events = [e for e in events if (_when(e["start"]) or tmax) < tmax]
            if query.get("orderBy") == "startTime":
                events.sort(key=lambda e: _when(e["start"]) or datetime.min.replace(tzinfo=UTC))
        try:
            page, nxt = _page(events, query.get("pageToken"), size)
        except ValueError:
            return self.bad_request("Invalid page token value.")
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{state.version}"',
            "summary": state.calendar_id,
            "updated": "2024-06-01T00:00:00.000Z",
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": copy.deepcopy(page),
        }
        if nxt:
            body["nextPageToken"] = nxt
        else:
            body["nextSyncToken"] = self._sync_token(state)
        return json_response(body)

    async def insert_event(self, request: web.Request) -> web.Response:
        state = self._calendar(request)
        if state is None:
            return self.not_found("Not Found")
        body, error = self._validate(await self.json_body(request))
        if error is not None or body is None:
            return error  # type: ignore[return-value]
        if body.get("id") in state.events:
            return google_error(409, "The requested identifier already exists.", "duplicate", "ALREADY_EXISTS")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = self._event(state.calendar_id, body, now)
        self._store(state, event)
        self.record_created("events", {"calendar_id": state.calendar_id, **copy.deepcopy(event)})
        return json_response(event)

    async def get_event(self, request: web.Request) -> web.Response:
        state = self._calendar(request)
        if state is None:
            return self.not_found("Not Found")
        event = state.events.get(request.match_info["event_id"])
        if event is None:
            return self.not_found("Not Found")
        return json_response(event)

    async def control_add_event(self, request: web.Request) -> web.Response:
        """Add an event as if someone else had (not counted as created by a client)."""
        state = self._calendar(request)
        if state is None:
            return control_error(
                f"no calendar {request.match_info['calendar_id']!r}; known: {list(self.calendars)}", 404
            )
        body, error = self._validate(await control_json(request))
        if error is not None or body is None:
            return error  # type: ignore[return-value]
        if body.get("id") in state.events:
            return control_error(f"event {body['id']!r} exists", 409)
        event = self._event(state.calendar_id, body, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        self._store(state, event)
        return json_response(event)

    async def control_expire(self, request: web.Request) -> web.Response:
        """Invalidate every sync token issued so far: the next incremental list gets 410.

        The calendar's version moves on by one, so the ``nextSyncToken`` of the full list that
        follows is newer than every invalidated token and is accepted next time.
        """
        state = self._calendar(request)
        if state is None:
            return control_error(f"no calendar {request.match_info['calendar_id']!r}", 404)
        state.version += 1
        state.min_sync_version = state.version
        return json_response({"ok": True})


# ======================================================================================
# Sheets
# ======================================================================================
A1 = re.compile(r"^(?:([A-Za-z]+)(\d+)?|(\d+))?(?::(?:([A-Za-z]+)(\d+)?|(\d+)))?$")


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _quote_sheet(name: str) -> str:
    return f"'{name}'" if re.search(r"[^A-Za-z0-9_]", name) else name


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SheetsService(GoogleService):
    name = "sheets"

    def reset(self) -> None:
        self.created = {}
        self.spreadsheets: dict[str, dict[str, list[list[Any]]]] = {
            SPREADSHEET_ID: {title: copy.deepcopy(rows) for title, rows in SEED_SHEETS.items()}
        }

    def fixtures(self) -> dict[str, Any]:
        return {"spreadsheet_id": SPREADSHEET_ID, "sheets": {k: v[0] for k, v in SEED_SHEETS.items()}}

    def endpoints(self) -> list[Endpoint]:
        base = "/v4/spreadsheets/{spreadsheet_id}/values/{range:.+}"
        return [
            Endpoint("GET", base, "spreadsheets.values.get", self.get_values),
            Endpoint("POST", base, "spreadsheets.values.append", self.append_values, write=True),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/spreadsheets/{spreadsheet_id}", self.control_dump)]

    def _parse(self, book: dict[str, list[list[Any]]], a1: str) -> tuple[str, int, int | None, int, int | None]:
        """(sheet, first column, first row or None, last column, last row or None), zero-based."""
        sheet_part, bang, cells = a1.rpartition("!")
        if not bang:
            if a1.strip("'").replace("''", "'") in book:
                return a1.strip("'").replace("''", "'"), 0, None, 10**6, None
            sheet_part, cells = next(iter(book)), a1
        sheet = sheet_part[1:-1].replace("''", "'") if sheet_part.startswith("'") else sheet_part
        if sheet not in book:
            raise ValueError(a1)
        match = A1.match(cells)
        if not match:
            raise ValueError(a1)
        c1, r1, row_only1, c2, r2, row_only2 = match.groups()
        first_col = _col_index(c1) if c1 else 0
        first_row = int(r1 or row_only1) - 1 if (r1 or row_only1) else None
        if c2 or r2 or row_only2:
            last_col = _col_index(c2) if c2 else 10**6
            last_row = int(r2 or row_only2) - 1 if (r2 or row_only2) else None
        else:
            last_col = first_col if c1 else 10**6
            last_row = first_row
        return sheet, first_col, first_row, last_col, last_row

    async def get_values(self, request: web.Request) -> web.Response:
        spreadsheet_id = request.match_info["spreadsheet_id"]
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            return self.not_found()
        a1 = request.match_info["range"]
        try:
            sheet, c1, r1, c2, r2 = self._parse(book, a1)
        except ValueError:
            return self.bad_request(f"Unable to parse range: {a1}", "badRequest")
        rows = book[sheet]
        start = r1 or 0
        stop = len(rows) if r2 is None else min(r2 + 1, len(rows))
        values = [[_cell(v) for v in row[c1 : c2 + 1]] for row in rows[start:stop]]
        while values and not any(values[-1]):
            values.pop()
        body: dict[str, Any] = {
            "range": f"{_quote_sheet(sheet)}!{a1.rpartition('!')[2] or 'A1:Z1000'}",
            "majorDimension": "ROWS",
        }
        if values:
            body["values"] = values
        return json_response(body)

    async def append_values(self, request: web.Request) -> web.Response:
        spreadsheet_id = request.match_info["spreadsheet_id"]
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            return self.not_found()
        a1 = request.match_info["range"]
        if not a1.endswith(":append"):
            return google_error(404, "Method not found.", "notFound", "NOT_FOUND")
        a1 = a1[: -len(":append")]
        option = request.query.get("valueInputOption")
        if option is None:
            return self.bad_request("'valueInputOption' is required but not specified", "badRequest")
        if option not in ("RAW", "USER_ENTERED"):
            return self.bad_request(f"Invalid value at 'value_input_option' ({option})", "badRequest")
        try:
            sheet, c1, _r1, _c2, _r2 = self._parse(book, a1)
        except ValueError:
            return self.bad_request(f"Unable to parse range: {a1}", "badRequest")
        body = await self.json_body(request)
        values = (body or {}).get("values")
        if not isinstance(values, list) or not values or not all(isinstance(r, list) for r in values):
            return self.bad_request("Invalid values: 'values' must be a non-empty list of rows", "badRequest")
        rows = book[sheet]
        while rows and not any(v not in ("", None) for v in rows[-1]):
            rows.pop()
        table_range = (
            f"{_quote_sheet(sheet)}!A1:{_col_letters(max(len(r) for r in rows) - 1)}{len(rows)}" if rows else None
        )
        first = len(rows)
        for row in values:
            rows.append([None] * c1 + list(row))
            self.record_created(
                "rows", {"spreadsheet_id": spreadsheet_id, "sheet": sheet, "row_number": len(rows), "values": list(row)}
            )
        width = max(len(r) for r in values)
        updated = f"{_quote_sheet(sheet)}!{_col_letters(c1)}{first + 1}:{_col_letters(c1 + width - 1)}{len(rows)}"
        result: dict[str, Any] = {
            "spreadsheetId": spreadsheet_id,
            "updates": {
                "spreadsheetId": spreadsheet_id,
                "updatedRange": updated,
                "updatedRows": len(values),
                "updatedColumns": width,
                "updatedCells": sum(len(r) for r in values),
            },
        }
        if table_range:
            result["tableRange"] = table_range
        return json_response(result)

    async def control_dump(self, request: web.Request) -> web.Response:
        book = self.spreadsheets.get(request.match_info["spreadsheet_id"])
        if book is None:
            return control_error(f"no spreadsheet {request.match_info['spreadsheet_id']!r}", 404)
        return json_response({title: [[_cell(v) for v in row] for row in rows] for title, rows in book.items()})
