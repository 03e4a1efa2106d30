"""Google Calendar: incremental sync by sync token, and events inserted exactly once.

Sync: :meth:`CalendarClient.list_events` without a token is a full sync; its
result carries the ``next_sync_token`` to pass next time. Google's 410
(``fullSyncRequired``) becomes :class:`SyncCursorExpiredError`.

Exactly once: :func:`event_id_for` turns the caller's key into a valid
client-chosen event id (base32hex); inserting it twice gets HTTP 409, which
:meth:`insert_event` answers with the event already there.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from core.settings import Settings
from integrations.errors import IntegrationError, SyncCursorExpiredError
from integrations.google import GoogleApi, list_request


class CalendarEvent(BaseModel):
    id: str
    status: str
    summary: str
    description: str
    start: datetime | None
    end: datetime | None
    all_day: bool
    html_link: str | None
    updated: datetime | None
    attendees: list[str]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> CalendarEvent:
        start, end = data.get("start") or {}, data.get("end") or {}
        return cls(
            id=data["id"],
            status=data.get("status", "confirmed"),
            summary=data.get("summary", ""),
            description=data.get("description", ""),
            start=_when(start),
            end=_when(end),
            all_day="date" in start,
            html_link=data.get("htmlLink"),
            updated=_parse(data["updated"]) if data.get("updated") else None,
            attendees=[a["email"] for a in data.get("attendees", []) if a.get("email")],
        )


class CalendarSync(BaseModel):
    """Events changed since the token (all events on a full sync) and the token for next time."""

    events: list[CalendarEvent]
    next_sync_token: str


class CalendarInsert(BaseModel):
    """The event for a key; ``created`` is False when an earlier attempt had already inserted it."""

    event: CalendarEvent
    created: bool


class CalendarApi(Protocol):
    """What signal ingestion and approvals need from Google Calendar."""

    async def list_events(
        self, calendar_id: str, *, sync_token: str | None = None, time_min: datetime | None = None
    ) -> CalendarSync: ...

    async def insert_event(
        self,
        calendar_id: str,
        *,
        key: str,
        summary: str,
        start: datetime,
        end: datetime,
        description: str = "",
        attendees: tuple[str, ...] = (),
    ) -> CalendarInsert: ...

    async def aclose(self) -> None: ...


class CalendarClient:
    """:class:`CalendarApi` on ``google-api-python-client``; ``calendar_id`` may be ``"primary"``."""

    def __init__(self, *, token: str, root_url: str, timeout: float = 30.0, page_size: int = 250) -> None:
        self._api = GoogleApi("calendar", "v3", root_url=root_url, token=token, timeout=timeout)
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> CalendarClient:
        return cls(
            token=settings.google_token.get_secret_value(),
            root_url=settings.service_base_url("calendar"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        """Nothing to close: connections belong to worker threads."""

    async def list_events(
        self, calendar_id: str, *, sync_token: str | None = None, time_min: datetime | None = None
    ) -> CalendarSync:
        """A full sync (optionally from ``time_min``) or an incremental one from ``sync_token``; all pages."""
        if sync_token and time_min:
            raise ValueError("a sync token cannot be combined with time_min (Google refuses it)")
        events: list[CalendarEvent] = []
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {"calendarId": calendar_id, "maxResults": self._page_size, "singleEvents": True}
            if sync_token:
                params["syncToken"] = sync_token
            elif time_min:
                params["timeMin"] = time_min.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if page_token:
                params["pageToken"] = page_token
            try:
                page = await self._api.execute("events.list", list_request("events", params))
            except IntegrationError as exc:
                if exc.status == 410:
                    raise SyncCursorExpiredError(
                        "the sync token is no longer valid; a full sync is needed",
                        service="calendar",
                        operation="events.list",
                        status=410,
                        code=exc.code,
                    ) from exc
                raise
            events.extend(CalendarEvent.from_api(e) for e in page.get("items", []))
            page_token = page.get("nextPageToken")
            if not page_token:
                return CalendarSync(events=events, next_sync_token=page["nextSyncToken"])

    async def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent:
        data = await self._api.execute(
            "events.get", lambda g: g.collection("events").get(calendarId=calendar_id, eventId=event_id)
        )
        return CalendarEvent.from_api(data)

    async def insert_event(
        self,
        calendar_id: str,
        *,
        key: str,
        summary: str,
        start: datetime,
        end: datetime,
        description: str = "",
        attendees: tuple[str, ...] = (),
    ) -> CalendarInsert:
        """Insert the event once per ``key``: a repeat gets 409 and returns the event already there."""
        event_id = event_id_for(key)
        body: dict[str, Any] = {
            "id": event_id,
            "summary": summary,
            "description": description,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": end.isoformat()},
        }
        if attendees:
            body["attendees"] = [{"email": a} for a in attendees]
        try:
            data = await self._api.execute(
                "events.insert", lambda g: g.collection("events").insert(calendarId=calendar_id, body=body)
            )
        except IntegrationError as exc:
            if exc.status == 409:
                return CalendarInsert(event=await self.get_event(calendar_id, event_id), created=False)
            raise
        return CalendarInsert(event=CalendarEvent.from_api(data), created=True)


def event_id_for(key: str) -> str:
    """A valid client-chosen event id for ``key``: base32hex (0-9, a-v) of its sha256, lower case."""
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _when(value: dict[str, Any]) -> datetime | None:
    if value.get("dateTime"):
        return _parse(value["dateTime"])
    if value.get("date"):
        day = date.fromisoformat(value["date"])
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return None
