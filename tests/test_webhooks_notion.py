"""POST /webhooks/notion/<integration id>, built to Notion's webhook documents: the one-time
verification_token handshake, then events signed with X-Notion-Signature (HMAC-SHA256 of the raw
body keyed by that token), recorded once. Payloads are Notion's documented examples."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from client.webhooks import add_notion_integration, notion_integration
from db.models.webhooks import NotionEvent
from db.repositories.webhooks import NotionEventRepository

# Notion's documented verification request body.
VERIFICATION = {"verification_token": "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}
TOKEN = VERIFICATION["verification_token"]

# Notion's documented page.created event.
PAGE_CREATED: dict[str, Any] = {
    "id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
    "timestamp": "2024-12-05T23:55:34.285Z",
    "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
    "workspace_name": "Quantify Labs",
    "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
    "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
    "type": "page.created",
    "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
    "accessible_by": [
        {"id": "556a1abf-4f08-40c6-878a-75890d2a88ba", "type": "person"},
        {"id": "1edc05f6-2702-81b5-8408-00279347f034", "type": "bot"},
    ],
    "attempt_number": 1,
    "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
    "data": {"parent": {"id": "0ef104cd-477e-80e1-8571-cfd10e92339a", "type": "page"}},
}


def signed(body: bytes, token: str = TOKEN) -> dict[str, str]:
    """Headers as Notion sends them: sha256= and the hex HMAC-SHA256 of the raw body, keyed by the token."""
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Notion-Signature": f"sha256={digest}"}


async def events_of(sessions: async_sessionmaker[AsyncSession], integration_id: uuid.UUID) -> list[NotionEvent]:
    async with sessions() as session:
        return await NotionEventRepository().for_integration(integration_id, session=session)


async def verified(api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str) -> str:
    """A new integration of the team, through its handshake; returns its URL."""
    integration = await add_notion_integration(sessions, team_id=team, name="tasks")
    url = f"/webhooks/notion/{integration.id}"
    assert (await api.post(url, json=VERIFICATION)).status_code == 200
    return url


async def test_the_verification_token_is_stored_once_per_integration(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    integration = await add_notion_integration(sessions, team_id=team, name="tasks")
    other = await add_notion_integration(sessions, team_id=team, name="other")
    url = f"/webhooks/notion/{integration.id}"
    first = await api.post(url, json=VERIFICATION)
    assert first.status_code == 200
    assert first.json()["outcome"] == "recorded"
    stored = await notion_integration(sessions, str(integration.id))
    assert stored.verification_token == TOKEN and stored.token_received_at is not None
    assert (await notion_integration(sessions, str(other.id))).verification_token is None

    # Notion's "resend token" sends the same one: fine; another token is refused and changes nothing.
    again = await api.post(url, json=VERIFICATION)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    hijack = await api.post(url, json={"verification_token": "secret_someone_else"})
    assert hijack.status_code == 409
    assert "already holds a verification token" in hijack.json()["detail"]
    assert (await notion_integration(sessions, str(integration.id))).verification_token == TOKEN


async def test_a_signed_event_is_recorded_once_and_acknowledged(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    url = await verified(api, sessions, team)
    body = json.dumps(PAGE_CREATED).encode()
    response = await api.post(url, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json()["outcome"] == "recorded"
    # Notion's retry of the same event (attempt_number 2): acknowledged, not recorded twice.
    retry = copy.deepcopy(PAGE_CREATED) | {"attempt_number": 2}
    retry_body = json.dumps(retry).encode()
    again = await api.post(url, content=retry_body, headers=signed(retry_body))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"

    integration_id = uuid.UUID(url.rsplit("/", 1)[1])
    (event,) = await events_of(sessions, integration_id)
    assert (event.event_id, event.event_type, event.team_id) == (PAGE_CREATED["id"], "page.created", team)
    assert (event.entity_id, event.entity_type, event.attempt_number) == (
        "153104cd-477e-809d-8dc4-ff2d96ae3090",
        "page",
        1,
    )
    assert event.payload == PAGE_CREATED


async def test_a_forged_or_missing_signature_is_401_and_records_nothing(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    integration = await add_notion_integration(sessions, team_id=team)
    url = f"/webhooks/notion/{integration.id}"
    body = json.dumps(PAGE_CREATED).encode()
    # Before the handshake there is no token to check with: nothing passes.
    early = await api.post(url, content=body, headers=signed(body))
    assert early.status_code == 401 and "no verification token yet" in early.json()["detail"]

    assert (await api.post(url, json=VERIFICATION)).status_code == 200
    forged = await api.post(url, content=body, headers=signed(body, token="secret_guess"))
    tampered = await api.post(url, content=body.replace(b"page.created", b"page.deleted"), headers=signed(body))
    unsigned = await api.post(url, content=body, headers={"Content-Type": "application/json"})
    not_hex = await api.post(url, content=body, headers={**signed(body), "X-Notion-Signature": "md5=abc"})
    for response in (forged, tampered, unsigned, not_hex):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert "does not match" in forged.json()["detail"]
    assert "lacks X-Notion-Signature" in unsigned.json()["detail"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(NotionEvent)) == 0


async def test_bad_notion_requests_are_4xx_with_a_reason_and_record_nothing(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    url = await verified(api, sessions, team)
    not_json = b'{"id": '
    no_type = json.dumps({"id": "367cba44"}).encode()
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        (
            "/webhooks/notion/not-a-uuid",
            b"{}",
            {"Content-Type": "application/json"},
            400,
            "is not a Notion integration",
        ),
        (f"/webhooks/notion/{uuid.uuid4()}", b"{}", {"Content-Type": "application/json"}, 404, "no Notion integration"),
        (url, json.dumps(PAGE_CREATED).encode(), {"Content-Type": "text/plain"}, 415, "application/json"),
        (url, not_json, signed(not_json), 400, "not valid JSON"),
        (url, no_type, signed(no_type), 400, "has no type"),
        (url, json.dumps({"verification_token": 7}).encode(), {"Content-Type": "application/json"}, 401, "lacks"),
    ]
    for target, body, headers, status, detail in cases:
        response = await api.post(target, content=body, headers=headers)
        assert response.status_code == status, (target, body)
        assert detail in response.json()["detail"], (target, body)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(NotionEvent)) == 0
