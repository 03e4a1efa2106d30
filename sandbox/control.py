"""A small async client for the sandbox's control API (``/_sandbox/``), for tests and the demo.

control = SandboxControl(url)
await control.reset(seed=7)
await control.set_fault("notion", "pages.create", fail_after_write="error", times=1)
pages = await control.created("notion", "pages")
await control.aclose()
"""

from __future__ import annotations

import base64
from typing import Any

import httpx


class SandboxControlError(Exception):
    """The sandbox refused a control request (the message says why)."""


class SandboxControl:
    """Reset, inspect and inject faults into a running sandbox over HTTP."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=f"{self.base_url}/_sandbox", timeout=timeout)

    async def __aenter__(self) -> SandboxControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text
            raise SandboxControlError(f"{method} /_sandbox{path} -> {response.status_code}: {reason}")
        return response.json()

    # --- lifecycle --------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def reset(self, seed: int | None = None) -> None:
        """Back to the seed data, no faults, empty call log; ``seed`` re-seeds the seed data and fault
        draws (ids of what is created afterwards are new ones all the same)."""
        await self._call("POST", "/reset", json={} if seed is None else {"seed": seed})

    async def fixtures(self) -> dict[str, Any]:
        """Identifiers of the seed data per service (threads, file key, database id, mailboxes, ...)."""
        return await self._call("GET", "/fixtures")

    # --- inspection -------------------------------------------------------------------
    async def calls(self, service: str | None = None, operation: str | None = None) -> list[dict[str, Any]]:
        """Every call served (service, operation, method, path, query, body, status, fault, at)."""
        params = {k: v for k, v in {"service": service, "operation": operation}.items() if v}
        return (await self._call("GET", "/calls", params=params))["calls"]

    async def call_count(self, service: str, operation: str) -> int:
        counts = (await self._call("GET", "/calls", params={"service": service, "operation": operation}))["counts"]
        return int(counts.get(f"{service}:{operation}", 0))

    async def created(self, service: str, kind: str) -> list[dict[str, Any]]:
        """What clients created: slack messages/reactions, figma comments, notion pages,
        gmail drafts, calendar events, sheets rows."""
        body = await self._call("GET", "/created", params={"service": service, "kind": kind})
        return body[service].get(kind, [])

    async def spreadsheet(self, spreadsheet_id: str) -> dict[str, list[list[str]]]:
        """Every sheet's cells, as strings."""
        return await self._call("GET", f"/sheets/spreadsheets/{spreadsheet_id}")

    # --- faults -----------------------------------------------------------------------
    async def set_fault(self, service: str, operation: str = "*", **spec: Any) -> dict[str, Any]:
        """Inject faults; ``spec`` fields: error_rate, rate_limit_rate, retry_after, quota_rate,
        reject_rate, latency_ms, fail_after_write ("error" | "hang"), fail_after_write_rate,
        malformed_rate, times."""
        return await self._call("PUT", f"/faults/{service}/{operation}", json=spec)

    async def clear_faults(self, service: str | None = None) -> None:
        await self._call("DELETE", "/faults" if service is None else f"/faults/{service}")

    async def faults(self) -> dict[str, Any]:
        return await self._call("GET", "/faults")

    async def revoke_token(self, service: str, token: str) -> None:
        """From now on ``token`` is refused by ``service`` as invalid credentials."""
        await self._call("POST", "/revoke", json={"service": service, "token": token})

    # --- world events -----------------------------------------------------------------
    async def post_slack_thread(self, channel: str, messages: list[tuple[str, str]]) -> str:
        """People post a new Slack thread in ``channel``: (user id, text) pairs, the first one the
        root. Returns the thread's ``<channel>:<ts>``, as a discussion names it."""
        posted = await self._call(
            "POST",
            "/slack/threads",
            json={
                "channel": channel,
                "messages": [{"user": user, "text": text} for user, text in messages],
            },
        )
        return f"{posted['channel']}:{posted['ts']}"

    async def deliver_mail(
        self,
        user: str,
        *,
        sender: str,
        subject: str,
        body: str = "",
        attachments: list[tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """A new mail arrives in ``user``'s inbox; attachments are (filename, bytes), PDFs assumed
        for ``.pdf`` names. Returns ``{"id", "threadId", "historyId"}``."""
        payload = {
            "from": sender,
            "subject": subject,
            "body": body,
            "attachments": [
                {
                    "filename": name,
                    "mime_type": "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream",
                    "data_base64": base64.b64encode(data).decode(),
                }
                for name, data in attachments or []
            ],
        }
        return await self._call("POST", f"/gmail/users/{user}/messages", json=payload)

    async def expire_gmail_history(self, user: str) -> None:
        """Every history id issued so far becomes too old: history.list answers 404."""
        await self._call("POST", f"/gmail/users/{user}/expire-history")

    async def delete_mail(self, user: str, message_id: str) -> None:
        """``user`` deletes a message: fetching it answers 404, history still names its arrival."""
        await self._call("DELETE", f"/gmail/users/{user}/messages/{message_id}")

    async def add_calendar_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Someone else adds an event to ``calendar_id`` (not counted as created by a client)."""
        return await self._call("POST", f"/calendar/calendars/{calendar_id}/events", json=event)

    async def expire_calendar_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token issued so far becomes invalid: events.list answers 410."""
        await self._call("POST", f"/calendar/calendars/{calendar_id}/expire-sync-tokens")
