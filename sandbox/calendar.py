"""Calendar v3 subset, at the paths the static discovery document builds.

Errors are Google's (:mod:`sandbox.google`); an expired ``syncToken`` is 410
``fullSyncRequired``; inserting an event whose client-chosen ``id`` exists is
409 ``duplicate``.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, control_error, control_json, json_response
from sandbox.google import GoogleService, _b64url, _page, _unb64url, google_error
from sandbox.seed_mail import SEED_EVENTS, USERS

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
