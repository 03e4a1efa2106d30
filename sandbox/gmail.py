"""Gmail v1 subset, at the paths the static discovery document builds.

Errors are Google's (:mod:`sandbox.google`); an expired ``startHistoryId`` is 404.
"""

from __future__ import annotations

import base64
import shlex
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, control_error, control_json, json_response
from sandbox.google import GoogleService, _b64url, _page, _unb64url
from sandbox.seed_mail import USERS, seed_mail


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
        text_part: dict[str, Any] = {
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
