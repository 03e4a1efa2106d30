"""The API's shell: health and readiness, problem details, body limits, team tokens."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from client.api_tokens import create_token, hash_token, list_tokens, revoke_token
from core.errors import InvalidInputError, NotFoundError
from core.settings import Settings
from db.models.api import ApiToken
from tests.helpers import intake_cli

PROBLEM = "application/problem+json"


async def test_healthz_and_readyz_answer_when_postgres_and_temporal_do(api: Any) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "postgres": "ok", "temporal": "ok"}


async def test_readyz_says_which_dependency_does_not_answer(settings: Settings) -> None:
    # A Temporal address nothing listens on: the app still starts (lazy client) and says so.
    app = create_app(settings.model_copy(update={"temporal_address": "127.0.0.1:9"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            ready = await http.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["postgres"] == "ok"
    assert body["status"] == "not ready"
    assert body["temporal"].startswith("unreachable")


async def test_errors_are_problem_details_naming_what_is_wrong(api: Any) -> None:
    missing = await api.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no route /no/such/route",
    }

    wrong_method = await api.post("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"] == "POST is not allowed on /healthz"


async def test_the_openapi_document_and_docs_are_published(api: Any) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert {"/healthz", "/readyz", "/api/v1/me"} <= set(spec["paths"])
    assert "Problem" in spec["components"]["schemas"]
    docs = await api.get("/docs")
    assert docs.status_code == 200
    # Swagger UI from the API itself, so the page works without internet access.
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    script = await api.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_a_body_over_the_limit_is_refused_with_413(settings: Settings, declared: bool) -> None:
    app = create_app(settings)
    read: list[int] = []

    @app.post("/test/echo")
    async def echo(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"bytes": read[-1]}

    limit = settings.api_max_body_bytes
    body = b"x" * (limit + 1)

    async def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.post("/test/echo", content=body if declared else chunks())
            fits = await http.post("/test/echo", content=b"x" * limit)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == f"the request body is larger than this API accepts ({limit} bytes)"
    assert fits.json() == {"bytes": limit}
    assert read == [limit]


async def test_a_token_names_its_team_and_only_its_hash_is_kept(
    api: Any, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    token, info = await create_token(sessions, team_id=team, name="ci")
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"team_id": team, "token_id": str(info.id)}

    async with sessions() as session:
        stored = (await session.scalars(select(ApiToken).where(ApiToken.id == info.id))).one()
    assert stored.token_hash == hash_token(token) != token
    assert token not in {stored.prefix, stored.name, stored.token_hash}
    assert stored.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [None, "Bearer itk_not-a-token", "Bearer nonsense", "Basic dXNlcjpwYXNz"],
    ids=["none", "unknown", "foreign", "basic"],
)
async def test_requests_without_a_live_token_are_401(api: Any, header: str | None) -> None:
    response = await api.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="intake"'
    assert response.headers["content-type"] == PROBLEM


async def test_a_revoked_token_is_refused(api: Any, sessions: async_sessionmaker[AsyncSession], team: str) -> None:
    token, info = await create_token(sessions, team_id=team)
    revoked = await revoke_token(sessions, str(info.id))
    again = await revoke_token(sessions, str(info.id))
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    response = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API token is unknown or revoked"


async def test_token_commands_refuse_bad_input(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(InvalidInputError, match="team id 'a b'"):
        await create_token(sessions, team_id="a b")
    with pytest.raises(InvalidInputError, match="not a token id"):
        await revoke_token(sessions, "42")
    with pytest.raises(NotFoundError, match="no API token"):
        await revoke_token(sessions, str(uuid.uuid4()))
    assert await list_tokens(sessions) == []


async def test_the_token_cli_shows_a_token_once_and_lists_it_without_it(settings: Settings, team: str) -> None:
    created = await intake_cli(settings, "api", "token", "create", "--team", team, "--json")
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    listed = await intake_cli(settings, "api", "token", "list", "--team", team)
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout and token[:10] in listed.stdout
    bad = await intake_cli(settings, "api", "token", "revoke", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: 'nope' is not a token id (a UUID)"


async def test_metrics_count_requests_and_webhook_outcomes_and_read_the_export_queue(api: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    await api.get("/healthz")
    await api.post("/webhooks/slack/events", content=b"{}", headers={"content-type": "application/json"})
    text = (await api.get("/metrics")).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("intake_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == 1
    assert samples[("intake_webhook_outcomes_total", (("outcome", "rejected"), ("source", "slack")))] == 1
    assert samples[("intake_export_jobs", (("status", "FAILED"),))] == 0
