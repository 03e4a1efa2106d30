"""Figma REST API subset: GET and POST ``/v1/files/{file_key}/comments``.

Shapes as https://www.figma.com/developers/api#comments documents them; errors
are ``{"status": <code>, "err": "<message>"}``; 429 carries Retry-After.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, Service, bearer_token, json_response

FILE_KEY = "FiGSandboxDesign01"
BOT_USER = {"id": "900000001", "handle": "intake", "img_url": "https://www.gravatar.com/avatar/intake"}
PEOPLE = {
    "ana": {"id": "100000001", "handle": "ana", "img_url": "https://www.gravatar.com/avatar/ana"},
    "ben": {"id": "100000002", "handle": "ben", "img_url": "https://www.gravatar.com/avatar/ben"},
    "cleo": {"id": "100000003", "handle": "cleo", "img_url": "https://www.gravatar.com/avatar/cleo"},
}

# (comment id, parent id or "", author, message)
SEED_COMMENTS = [
    ("1001", "", "ana", "The onboarding hero image is blurry on retina screens."),
    ("1002", "1001", "ben", "Can you export it at 2x and replace the asset by 2024-06-24?"),
    ("1003", "1001", "ana", "I'll export the 2x version this afternoon."),
    ("1004", "1001", "cleo", "Could someone also check the dark mode variant?"),
    ("1101", "", "cleo", "Love the new colour palette on the pricing page."),
    ("1102", "1101", "ben", "Thanks, it tested well with users."),
]


class FigmaService(Service):
    name = "figma"

    def reset(self) -> None:
        self.created = {}
        self.files: dict[str, list[dict[str, Any]]] = {FILE_KEY: []}
        for n, (cid, parent, author, message) in enumerate(SEED_COMMENTS):
            self.files[FILE_KEY].append(
                self._comment(cid, parent, PEOPLE[author], message, f"2024-06-1{n % 10}T09:00:00Z", n + 1)
            )

    @staticmethod
    def _comment(cid: str, parent: str, user: dict[str, str], message: str, at: str, order: int) -> dict[str, Any]:
        return {
            "id": cid,
            "file_key": FILE_KEY,
            "parent_id": parent,
            "user": user,
            "created_at": at,
            "resolved_at": None,
            "message": message,
            "client_meta": None if parent else {"x": 120.0, "y": 240.0},
            "order_id": None if parent else str(order),
            "reactions": [],
        }

    def token(self, request: web.Request) -> str | None:
        return request.headers.get("X-Figma-Token") or bearer_token(request)

    def server_error(self) -> web.Response:
        return json_response({"status": 500, "err": "Internal server error"}, status=500)

    def rejected(self) -> web.Response:
        return json_response({"status": 400, "err": "Invalid request"}, status=400)

    def rate_limited(self, retry_after: int) -> web.Response:
        return json_response(
            {"status": 429, "err": "Rate limit exceeded"},
            status=429,
            headers={"Retry-After": str(retry_after), "X-Figma-Rate-Limit-Type": "low"},
        )

    def unauthorized(self) -> web.Response:
        return json_response({"status": 403, "err": "Invalid token"}, status=403)

    def fixtures(self) -> dict[str, Any]:
        roots = [c["id"] for c in self.files[FILE_KEY] if not c["parent_id"]]
        return {"file_key": FILE_KEY, "bot_user_id": BOT_USER["id"], "threads": roots}

    def endpoints(self) -> list[Endpoint]:
        path = "/v1/files/{file_key}/comments"
        return [
            Endpoint("GET", path, "comments.list", self.list_comments),
            Endpoint("POST", path, "comments.create", self.post_comment, write=True),
        ]

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return json_response({"status": status, "err": message}, status=status)

    async def list_comments(self, request: web.Request) -> web.Response:
        comments = self.files.get(request.match_info["file_key"])
        if comments is None:
            return self._error(404, "Not found")
        return json_response({"comments": copy.deepcopy(comments)})

    async def post_comment(self, request: web.Request) -> web.Response:
        file_key = request.match_info["file_key"]
        comments = self.files.get(file_key)
        if comments is None:
            return self._error(404, "Not found")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Invalid JSON body")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return self._error(400, "message is required")
        parent = body.get("comment_id") or ""
        if parent:
            root = next((c for c in comments if c["id"] == parent), None)
            if root is None:
                return self._error(404, "Parent comment not found")
            if root["parent_id"]:
                return self._error(400, "Cannot reply to a reply")
        tick = self.ids.tick()
        comment = self._comment(
            str(tick),
            parent,
            BOT_USER,
            message,
            datetime.fromtimestamp(tick / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            len(comments) + 1,
        )
        comment["file_key"] = file_key
        comments.append(comment)
        self.record_created("comments", copy.deepcopy(comment))
        return json_response(comment)
