"""The dashboard's session and error pages over HTTP (the app in process): the signed cookie, CSRF,
fail-closed configuration, refusals shown on the page, and the page reads' query plans."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.ui.routes import relative
from api.ui.session import COOKIE, SECRET_FILE, session_secret
from client.api_tokens import create_token, revoke_token
from client.discussions import start_discussion
from contracts.discussions import DiscussionInput
from core.settings import Settings
from sandbox.control import SandboxControl

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def signed_in(api: httpx.AsyncClient, token: str) -> str:
    """Sign `api` in with `token` through the sign-in form; the CSRF token of the session."""
    form = await api.get("/ui/sign-in")
    answer = await api.post("/ui/sign-in", data={"token": token, "csrf_token": csrf_of(form), "next": "/ui/jobs"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/jobs"
    return csrf_of(await api.get("/ui/jobs"))


async def test_pages_need_a_signed_in_team_and_the_cookie_is_signed_httponly_samesite(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    away = await api.get("/ui/work-orders?failed_cursor=x")
    assert away.status_code == 303
    assert away.headers["location"] == "/ui/sign-in?next=%2Fui%2Fwork-orders%3Ffailed_cursor%3Dx"
    for path in ("/ui/runs", "/ui/runs/w/r", f"/ui/batches/{uuid.uuid4()}"):
        answer = await api.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/sign-in?next="), path
    # The queue's refresh (htmx) is told where to go instead of getting the sign-in page as a fragment.
    fragment = await api.get("/ui/inbox/queue", headers={"HX-Request": "true"})
    assert fragment.status_code == 204 and fragment.headers["hx-redirect"].startswith("/ui/sign-in")

    token, _ = await create_token(sessions, team_id=team)
    form = await api.get("/ui/sign-in")
    answer = await api.post("/ui/sign-in", data={"token": token, "csrf_token": csrf_of(form)})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and token not in cookie
    assert {"HttpOnly", "SameSite=lax", "Path=/ui"} <= {part.strip() for part in cookie.split(";")}
    inbox = await api.get("/ui/inbox")
    assert inbox.status_code == 200
    assert inbox.headers["x-frame-options"] == "DENY" and inbox.headers["cache-control"] == "no-store"

    # A cookie changed by hand is no session at all.
    value = api.cookies.get(COOKIE, path="/ui")
    assert value
    api.cookies.set(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), domain="intake.test", path="/ui")
    assert (await api.get("/ui/inbox")).status_code == 303


async def test_a_revoked_token_signs_its_sessions_out(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    token, info = await create_token(sessions, team_id=team)
    await signed_in(api, token)
    await revoke_token(sessions, str(info.id))
    out = await api.get("/ui/inbox")
    assert out.status_code == 303 and out.headers["location"].startswith("/ui/sign-in")
    again = await api.get(out.headers["location"])
    assert "the token this session signed in with was revoked" in again.text


async def test_the_sign_in_form_itself_needs_its_csrf_token(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    token, _ = await create_token(sessions, team_id=team)
    await api.get("/ui/sign-in")
    refused = await api.post("/ui/sign-in", data={"token": token})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "CSRF token is missing or out of date" in refused.text
    assert (await api.get("/ui/inbox")).status_code == 303  # not signed in


async def test_retrying_a_job_that_has_not_failed_is_refused_on_the_page_with_the_reason(
    api: httpx.AsyncClient,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    async with make_worker():
        result = await (
            await start_discussion(
                client,
                DiscussionInput(team_id=team, source_type="slack", source_thread_id="C0PRODUCT:1718010000.000100"),
                task_queue=task_queue,
            )
        ).result()
    token, _ = await create_token(sessions, team_id=team)
    csrf = await signed_in(api, token)
    job_page = f"/ui/jobs/{result.job_id}"
    answer = await api.post(
        f"{job_page}/retry", data={"csrf_token": csrf}, headers={"Referer": f"http://intake.test{job_page}"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == job_page
    shown = await api.get(job_page)
    assert "retry refused: job" in shown.text and "is completed, not failed" in shown.text


async def test_errors_are_pages_not_json(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: str
) -> None:
    token, _ = await create_token(sessions, team_id=team)
    await signed_in(api, token)
    for path, status, says in [
        ("/ui/no-such-page", 404, "the dashboard has no page /ui/no-such-page"),
        (f"/ui/items/{uuid.uuid4()}", 404, "no work item"),
        ("/ui/items/not-a-uuid", 404, "no work item not-a-uuid"),
        ("/ui/jobs?status=exploded", 422, "status &#39;exploded&#39; is not one of"),
        ("/ui/jobs?cursor=garbage", 422, "cursor"),
        ("/ui/runs?status=exploded", 422, "status &#39;exploded&#39; is not one of"),
        ("/ui/runs?since=yesterday", 422, "from &#39;yesterday&#39; is not a day: use YYYY-MM-DD"),
        ("/ui/runs?cursor=garbage", 422, "cursor"),
        ("/ui/runs/discussion/t/slack/C0:1/no-such-run", 404, "no run no-such-run of workflow discussion/t/slack/C0:1"),
        ("/ui/batches/not-a-uuid", 404, "no batch not-a-uuid"),
        ("/ui/work-orders?batches_cursor=garbage", 422, "cursor"),
    ]:
        answer = await api.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert says in answer.text, (path, answer.text[-800:])


async def test_the_session_secret_is_kept_per_state_dir_and_required_in_production(
    settings: Settings, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"state_dir": tmp_path / "state", "session_secret": None})
    first = session_secret(local)
    assert session_secret(local) == first and len(first) >= 32  # a restart keeps sessions
    assert (tmp_path / "state" / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert session_secret(local.model_copy(update={"session_secret": SecretStr("given")})) == "given"

    production = local.model_copy(update={"intake_env": "production"})
    app = create_app(production)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            off = await http.get("/ui/sign-in")
    assert off.status_code == 503
    assert "set INTAKE_SESSION_SECRET" in off.text


def test_relative_times_read_at_a_glance() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert relative(now - timedelta(seconds=3), now) == "just now"
    assert relative(now - timedelta(seconds=42), now) == "42 s ago"
    assert relative(now - timedelta(minutes=5, seconds=9), now) == "5 min ago"
    assert relative(now - timedelta(hours=3), now) == "3 h ago"
    assert relative(now + timedelta(hours=2), now) == "in 2 h"
    assert relative(now - timedelta(days=90), now) == "on 2025-10-12"
    assert relative(None, now) == "never"
