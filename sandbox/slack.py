"""Slack Web API subset: auth.test, conversations.replies, users.info, chat.postMessage,
reactions.add/remove.

Paths and shapes as https://api.slack.com/methods documents them: every
method is ``/api/<method>`` (mounted at ``/slack/api/``), answers HTTP 200
with ``{"ok": false, "error": "..."}`` for ordinary errors, and HTTP 429 with
``{"ok": false, "error": "ratelimited"}`` and ``Retry-After`` when limited.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, Service, bearer_token, json_response

TEAM_ID = "T0SANDBOX"
BOT_USER_ID = "U0INTAKEBOT"
BOT_ID = "B0INTAKE"
MAX_TEXT = 40_000

USERS = {
    "U0ALICE": "alice",
    "U0BOB": "bob",
    "U0CAROL": "carol",
    "U0DANA": "dana",
}
# users.info's profile.real_name; the display name (profile.display_name) is USERS' name.
REAL_NAMES = {"U0ALICE": "Alice Archer", "U0BOB": "Bob Baker", "U0CAROL": "Carol Chen", "U0DANA": "Dana Diaz"}

CHANNELS = {"C0PRODUCT": "product", "C0DESIGN": "design", "C0SUPPORT": "support"}

CHECKOUT_THREAD = [
    ("U0ALICE", "Customers in the EU report that checkout times out when they pay with SEPA."),
    ("U0BOB", "I can reproduce it: the payment provider call takes about 30 seconds."),
    ("U0ALICE", "Bob, can you add a timeout and a retry to the provider call by 2024-06-21?"),
    ("U0BOB", "I'll ship a fix for the timeout tomorrow and post the numbers here."),
    ("U0CAROL", "Could someone update the status page so support knows what to tell customers?"),
    ("U0DANA", "I will write the customer email once the fix is live. This is urgent for the billing team."),
    ("U0ALICE", "Thanks all, great work."),
]

SOCIAL_THREAD = [
    ("U0CAROL", "Lunch at the new place was great today."),
    ("U0DANA", "Agreed, the soup was excellent."),
    ("U0BOB", "Nice to see everyone in the office."),
]

SUPPORT_THREAD = [
    ("U0DANA", "A customer says the invoice PDF download is broken on Safari."),
    ("U0CAROL", "Please check whether the Content-Disposition header changed in the last deploy."),
]


def _planning_thread() -> list[tuple[str, str]]:
    """A long thread (1 + 29 replies) so clients must follow the cursor."""
    people = list(USERS)
    lines = [("U0ALICE", "Weekly planning thread: post your updates as replies.")]
    for n in range(1, 30):
        user = people[n % len(people)]
        lines.append((user, f"Update {n}: the onboarding work item {n} is on track."))
    lines[12] = ("U0ALICE", "Dana, can you send the release notes to the design team by 2024-06-28?")
    lines[20] = ("U0BOB", "I'll migrate the staging database to the new cluster on Monday.")
    return lines


THREADS = [
    ("C0PRODUCT", "1718010000.000100", CHECKOUT_THREAD),
    ("C0PRODUCT", "1718020000.000100", _planning_thread()),
    ("C0DESIGN", "1718030000.000100", SOCIAL_THREAD),
    ("C0SUPPORT", "1718040000.000100", SUPPORT_THREAD),
]


class SlackService(Service):
    name = "slack"

    def reset(self) -> None:
        self.created = {}
        # Per channel its messages in order; by (channel, ts) each message; by (channel, root ts)
        # each thread, root first (lookups stay O(1) however many threads a load test posts).
        self.messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in CHANNELS}
        self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}
        self._threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for channel, parent_ts, lines in THREADS:
            seconds = int(parent_ts.split(".")[0])
            for n, (user, text) in enumerate(lines):
                ts = parent_ts if n == 0 else f"{seconds + 60 * n}.000100"
                message = {"type": "message", "user": user, "text": text, "ts": ts, "team": TEAM_ID}
                if n > 0:
                    message.update(thread_ts=parent_ts, parent_user_id=lines[0][0])
                self._add(channel, message)

    def _add(self, channel: str, message: dict[str, Any]) -> None:
        self.messages[channel].append(message)
        self._by_ts[(channel, message["ts"])] = message
        self._threads.setdefault((channel, message.get("thread_ts", message["ts"])), []).append(message)

    # --- service identity and errors -------------------------------------------------
    def token(self, request: web.Request) -> str | None:
        return bearer_token(request) or request.query.get("token")

    def server_error(self) -> web.Response:
        return json_response({"ok": False, "error": "internal_error"}, status=500)

    def rejected(self) -> web.Response:
        # Slack answers most refusals with HTTP 200 and ok: false.
        return json_response({"ok": False, "error": "invalid_arguments"})

    def rate_limited(self, retry_after: int) -> web.Response:
        return json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
        )

    def unauthorized(self) -> web.Response:
        return json_response({"ok": False, "error": "invalid_auth"})

    def fixtures(self) -> dict[str, Any]:
        return {
            "team_id": TEAM_ID,
            "bot_user_id": BOT_USER_ID,
            "users": USERS,
            "channels": CHANNELS,
            "threads": [{"channel": channel, "ts": ts, "messages": len(lines)} for channel, ts, lines in THREADS],
        }

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("*", "/api/auth.test", "auth.test", self.auth_test),
            Endpoint("*", "/api/conversations.replies", "conversations.replies", self.replies),
            Endpoint("*", "/api/users.info", "users.info", self.users_info),
            Endpoint("*", "/api/chat.postMessage", "chat.postMessage", self.post_message, write=True),
            Endpoint("*", "/api/reactions.add", "reactions.add", self.reactions_add, write=True),
            Endpoint("*", "/api/reactions.remove", "reactions.remove", self.reactions_remove, write=True),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", "/threads", self.control_post_thread)]

    async def control_post_thread(self, request: web.Request) -> web.Response:
        """People post a new thread: ``{"channel", "messages": [{"user", "text"}, ...]}`` (the
        first message is the root). Answers ``{"channel", "ts", "messages"}``."""
        try:
            body = await request.json()
        except ValueError:
            return json_response({"error": "the body must be JSON"}, status=400)
        channel = self._channel(body.get("channel")) if isinstance(body, dict) else None
        lines = body.get("messages") if isinstance(body, dict) else None
        if channel is None:
            return json_response({"error": f"unknown channel; known: {sorted(CHANNELS)}"}, status=400)
        if (
            not isinstance(lines, list)
            or not lines
            or not all(isinstance(m, dict) and m.get("user") in USERS and isinstance(m.get("text"), str) for m in lines)
        ):
            return json_response(
                {"error": f"messages must be a non-empty list of {{user, text}}, users among {sorted(USERS)}"},
                status=400,
            )
        root_ts = self._next_ts()
        for n, line in enumerate(lines):
            message = {
                "type": "message",
                "user": line["user"],
                "text": line["text"],
                "ts": root_ts if n == 0 else self._next_ts(),
                "team": TEAM_ID,
            }
            if n > 0:
                message.update(thread_ts=root_ts, parent_user_id=lines[0]["user"])
            self._add(channel, message)
        return json_response({"channel": channel, "ts": root_ts, "messages": len(lines)})

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    async def _args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    args.update(await request.json())
                except ValueError:
                    args["__invalid_json__"] = True
            else:
                args.update((await request.post()).items())
        return args

    @staticmethod
    def _fail(error: str, **extra: Any) -> web.Response:
        return json_response({"ok": False, "error": error, **extra})

    def _channel(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        name = value.lstrip("#")
        if name in self.messages:
            return name
        for cid, cname in CHANNELS.items():
            if cname == name:
                return cid
        return None

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._by_ts.get((channel, ts))

    def _next_ts(self) -> str:
        """A new message's ts: the time it is posted, to the microsecond, later than every ts before."""
        tick = self.ids.tick()
        return f"{tick // 1_000_000}.{tick % 1_000_000:06d}"

    def _render(self, message: dict[str, Any], channel: str, with_metadata: bool) -> dict[str, Any]:
        out = copy.deepcopy(message)
        if not with_metadata:
            out.pop("metadata", None)
        if out.get("thread_ts", out["ts"]) == out["ts"]:
            replies = self._threads.get((channel, out["ts"]), [])[1:]
            if replies:
                out["thread_ts"] = out["ts"]
                out["reply_count"] = len(replies)
                out["reply_users"] = sorted({m.get("user", "") for m in replies})
                out["latest_reply"] = replies[-1]["ts"]
        return out

    # --- methods ----------------------------------------------------------------------
    async def auth_test(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "ok": True,
                "url": "https://sandbox.slack.com/",
                "team": "Sandbox",
                "user": "intake",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        )

    async def users_info(self, request: web.Request) -> web.Response:
        """A user as users.info answers (the fields intake reads, and a few around them)."""
        args = await self._args(request)
        user_id = args.get("user")
        if not isinstance(user_id, str) or not user_id:
            return self._fail("invalid_arguments")
        if user_id == BOT_USER_ID:
            name, real_name, is_bot = "intake", "intake", True
        elif user_id in USERS:
            name, real_name, is_bot = USERS[user_id], REAL_NAMES[user_id], False
        else:
            return self._fail("user_not_found")
        return json_response(
            {
                "ok": True,
                "user": {
                    "id": user_id,
                    "team_id": TEAM_ID,
                    "name": name,
                    "deleted": False,
                    "real_name": real_name,
                    "tz": "Europe/London",
                    "profile": {"real_name": real_name, "display_name": name, "display_name_normalized": name},
                    "is_bot": is_bot,
                },
            }
        )

    async def replies(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        channel = self._channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        ts = str(args.get("ts", ""))
        if not ts:
            return self._fail(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: ts"]}
            )
        parent = self._find(channel, ts)
        if parent is None:
            return self._fail("thread_not_found")
        root = parent.get("thread_ts", parent["ts"])
        thread = self._threads.get((channel, root), [])
        try:
            limit = max(1, min(int(args.get("limit", 1000)), 1000))
            offset = _decode_cursor(str(args.get("cursor", ""))) if args.get("cursor") else 0
        except ValueError:
            return self._fail("invalid_cursor")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        page = thread[offset : offset + limit]
        has_more = offset + limit < len(thread)
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self._render(m, channel, with_metadata) for m in page],
            "has_more": has_more,
        }
        if has_more:
            body["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit)}
        return json_response(body)

    async def post_message(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        if args.get("__invalid_json__"):
            return self._fail("invalid_json")
        channel = self._channel(args.get("channel"))
        if channel is None:
            return self._fail("channel_not_found")
        text = args.get("text") or ""
        if not text and not args.get("blocks") and not args.get("attachments"):
            return self._fail("no_text")
        if len(text) > MAX_TEXT:
            return self._fail("msg_too_long")
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return self._fail("invalid_metadata_format")
        if metadata is not None and (
            not isinstance(metadata, dict) or "event_type" not in metadata or "event_payload" not in metadata
        ):
            return self._fail("invalid_metadata_format")
        thread_ts = args.get("thread_ts")
        if thread_ts and self._find(channel, str(thread_ts)) is None:
            return self._fail("thread_not_found")
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": text,
            "ts": self._next_ts(),
            "team": TEAM_ID,
        }
        if args.get("blocks"):
            blocks = args["blocks"]
            message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
        if metadata is not None:
            message["metadata"] = metadata
        self._add(channel, message)
        self.record_created("messages", {"channel": channel, **copy.deepcopy(message)})
        return json_response({"ok": True, "channel": channel, "ts": message["ts"], "message": message})

    async def _reaction_target(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, str, str, web.Response | None]:
        args = await self._args(request)
        channel = self._channel(args.get("channel"))
        if channel is None:
            return None, "", "", self._fail("channel_not_found")
        name = str(args.get("name", "")).strip(":")
        if not name:
            return None, channel, name, self._fail("invalid_name")
        message = self._find(channel, str(args.get("timestamp", "")))
        if message is None:
            return None, channel, name, self._fail("message_not_found")
        return message, channel, name, None

    async def reactions_add(self, request: web.Request) -> web.Response:
        message, channel, name, error = await self._reaction_target(request)
        if error is not None or message is None:
            return error  # type: ignore[return-value]
        reactions = message.setdefault("reactions", [])
        existing = next((r for r in reactions if r["name"] == name), None)
        if existing and BOT_USER_ID in existing["users"]:
            return self._fail("already_reacted")
        if existing is None:
            existing = {"name": name, "users": [], "count": 0}
            reactions.append(existing)
        existing["users"].append(BOT_USER_ID)
        existing["count"] += 1
        self.record_created("reactions", {"channel": channel, "ts": message["ts"], "name": name})
        return json_response({"ok": True})

    async def reactions_remove(self, request: web.Request) -> web.Response:
        message, _channel, name, error = await self._reaction_target(request)
        if error is not None or message is None:
            return error  # type: ignore[return-value]
        reactions = message.get("reactions", [])
        existing = next((r for r in reactions if r["name"] == name and BOT_USER_ID in r["users"]), None)
        if existing is None:
            return self._fail("no_reaction")
        existing["users"].remove(BOT_USER_ID)
        existing["count"] -= 1
        if existing["count"] == 0:
            reactions.remove(existing)
        return json_response({"ok": True})


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(cursor) from exc
    if kind != "offset" or not value.isdigit():
        raise ValueError(cursor)
    return int(value)
