"""The web dashboard's pages at /ui/: inbox, jobs and discussions, work orders.

Server-rendered (Jinja2), with plain forms for every action and htmx only to refresh
the approval queue every 30 s without a full reload. Every read and action is a
function of client/pages.py (which calls the same client functions as the CLI and the
admin API); this module only parses requests and renders answers. Errors are pages:
a refused action comes back to the page it was sent from with the reason shown on it,
an unknown (or another team's) item is a 404 page, never a JSON body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Services
from api.ui.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfRefused,
    DashboardOff,
    Sessions,
    SignInRequired,
    UiSession,
    check_csrf,
)
from client import pages
from client.api_tokens import authenticate
from contracts.approvals import DRAFT_ACTIONS
from contracts.exports import export_drain_workflow_id
from core.errors import ConflictError, IntakeError, InvalidInputError, NotFoundError
from core.temporal import ui_link

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATUS_OF: list[tuple[type[IntakeError], int]] = [(NotFoundError, 404), (ConflictError, 409), (InvalidInputError, 422)]
# How often the approval queue reloads itself (seconds).
QUEUE_REFRESH_SECONDS = 30


# -- rendering helpers ---------------------------------------------------------------------


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """'5 min ago', 'in 2 h', 'just now': how long ago `moment` was, in words a glance reads."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 10:
        return "just now"
    unit, size = next((u, s) for u, s in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)) if seconds >= s)
    amount = int(seconds // size)
    if unit == "d" and amount > 30:
        return f"on {moment:%Y-%m-%d}"
    return f"in {amount} {unit}" if future else f"{amount} {unit} ago"


def timestamp(moment: datetime | str | None) -> Markup:
    """A <time> showing the relative time, with the exact UTC time on hover (an ISO string, as the
    mirror's reports give times, is read as its moment)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is None:
        return Markup('<span class="muted">—</span>')
    exact = moment.astimezone(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        exact.isoformat(), f"{exact:%Y-%m-%d %H:%M:%S} UTC", relative(moment)
    )


def status_chip(status: str | None) -> Markup:
    if not status:
        return Markup('<span class="chip st-none">none</span>')
    return Markup('<span class="chip st-{}">{}</span>').format(status.lower().replace("_", "-"), status)


def run_path(workflow_id: str, run_id: str) -> str:
    """The dashboard's page of one mirrored run (a workflow id keeps its `/`: the route takes a path)."""
    return f"/ui/runs/{quote(workflow_id, safe='/:')}/{quote(run_id, safe='')}"


TEMPLATES.env.globals.update(
    timestamp=timestamp, status_chip=status_chip, run_path=run_path, refresh_seconds=QUEUE_REFRESH_SECONDS
)
TEMPLATES.env.filters["short"] = lambda text, size=120: (
    "" if text is None else (str(text) if len(str(text)) <= size else str(text)[: size - 1] + "…")
)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.ui_sessions
    return found


def _session(request: Request) -> UiSession:
    found: UiSession | None = getattr(request.state, "ui_session", None)
    if found is None:
        found = _sessions(request).load(request)
        request.state.ui_session = found
    return found


async def signed_in(request: Request) -> UiSession:
    """The request's session, signed in with a live token; SignInRequired otherwise."""
    session = _session(request)
    if not session.signed_in:
        raise SignInRequired()
    assert session.team_id is not None and session.token_id is not None
    if not await pages.token_is_live(_services(request).sessions, session.token_id, session.team_id):
        Sessions.sign_out(session)
        session.flash("error", "the token this session signed in with was revoked: sign in again")
        raise SignInRequired()
    return session


async def form_of(request: Request) -> dict[str, str]:
    """A POSTed form's fields, after its CSRF token is checked against the session's."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    check_csrf(_session(request), fields.pop(CSRF_FIELD, None) or request.headers.get(CSRF_HEADER))
    return fields


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = _session(request)
    settings = _services(request).settings
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "notice": session.take_notice() if template != "_queue.html" else None,
            "csrf_field": CSRF_FIELD,
            "csrf": session.csrf,
            "run_link": lambda workflow_id, run_id=None: (
                ui_link(settings, workflow_id, run_id) if workflow_id else None
            ),
            "now": datetime.now(UTC),
            **context,
        },
        status_code=status_code,
    )
    return response


def back(request: Request, fallback: str) -> str:
    """Where a form was sent from (a /ui/ path of this site), else `fallback`."""
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc and parts.path.startswith("/ui/"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return fallback


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    return page(request, "error.html", status, title=HTTPStatus(status).phrase, code=status, detail=detail)


class UiRoute(APIRoute):
    """A dashboard route: its errors answer as pages, and the session cookie is written back when it changed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            response: Response
            try:
                response = await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                location = f"/ui/sign-in?next={quote(target, safe='')}"
                if request.headers.get("hx-request"):
                    response = Response(status_code=204, headers={"HX-Redirect": location})
                else:
                    response = redirect(location)
            except CsrfRefused:
                response = error_page(
                    request,
                    403,
                    "this form was not sent by this dashboard's page (its CSRF token is missing or out of date); "
                    "nothing was done: reload the page and try again",
                )
            except DashboardOff as err:
                return HTMLResponse(f"<!doctype html><title>Dashboard off</title><p>{escape(str(err))}</p>", 503)
            except RequestValidationError as err:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in err.errors()
                )
                response = error_page(request, 422, detail or "the request is invalid")
            except StarletteHTTPException as err:
                response = error_page(request, err.status_code, str(err.detail))
            except IntakeError as err:
                status = next((code for kind, code in STATUS_OF if isinstance(err, kind)), 503)
                response = error_page(request, status, " ".join(str(err).split()))
            session = getattr(request.state, "ui_session", None)
            if session is not None:
                _sessions(request).save(request, response, session)
            response.headers.setdefault("Cache-Control", "no-store")
            # No page of the dashboard may be framed by another site (its buttons approve and retry).
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            return response

        return answer


router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    session = _session(request)
    return redirect("/ui/inbox" if session.signed_in else "/ui/sign-in")


def _next(value: str | None) -> str:
    """A safe place to go after signing in: a path of the dashboard, never another site."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/inbox"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return page(request, "sign_in.html", title="Sign in", next=_next(next))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    fields = await form_of(request)
    token = fields.get("token", "").strip()
    caller = await authenticate(_services(request).sessions, token) if token else None
    target = _next(fields.get("next"))
    if caller is None:
        return page(
            request,
            "sign_in.html",
            status_code=401,
            title="Sign in",
            next=target,
            error="that token is unknown or revoked: paste a team token made by `intake api token create --team T`"
            if token
            else "paste your team's API token to sign in",
        )
    session = _session(request)
    Sessions.sign_in(session, team_id=caller.team_id, token_id=str(caller.token_id))
    return redirect(target)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await form_of(request)
    session = _session(request)
    Sessions.sign_out(session)
    session.flash("info", "signed out")
    return redirect("/ui/sign-in")


# -- inbox -----------------------------------------------------------------------------------


@router.get("/inbox")
async def inbox(
    request: Request, cursor: str | None = None, drafts_cursor: str | None = None, processed_cursor: str | None = None
) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    sessions = _services(request).sessions
    queue = await pages.inbox(sessions, team_id=session.team_id, cursor=cursor)
    drafts = await pages.drafts(sessions, team_id=session.team_id, cursor=drafts_cursor)
    processed = await pages.processed(sessions, team_id=session.team_id, cursor=processed_cursor)
    return page(request, "inbox.html", title="Inbox", queue=queue, cursor=cursor, drafts=drafts, processed=processed)


@router.get("/inbox/queue")
async def inbox_queue(request: Request, cursor: str | None = None) -> Response:
    """The queue alone, for the page's refresh every 30 s."""
    session = await signed_in(request)
    assert session.team_id is not None
    queue = await pages.inbox(_services(request).sessions, team_id=session.team_id, cursor=cursor)
    return page(request, "_queue.html", queue=queue, cursor=cursor)


@router.get("/items/{work_item_id}")
async def work_item(request: Request, work_item_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    found = await pages.work_item(_services(request).sessions, team_id=session.team_id, work_item_id=work_item_id)
    return page(request, "item.html", title=found["item"].summary, **found)


async def _decide(
    request: Request, action_id: str, decide: Callable[[UiSession, dict[str, str]], Awaitable[str]]
) -> Response:
    """Run a decision from a form; its refusal comes back to the page it was sent from, shown there."""
    session = await signed_in(request)
    fields = await form_of(request)
    try:
        message = await decide(session, fields)
    except (InvalidInputError, ConflictError) as err:
        session.flash("error", " ".join(str(err).split()))
        return redirect(back(request, "/ui/inbox"))
    session.flash("ok", message)
    return redirect(back(request, "/ui/inbox"))


def _who(session: UiSession) -> str:
    return f"dashboard:{session.team_id}:{(session.token_id or '')[:8]}"


@router.post("/actions/{action_id}/approve")
async def approve(request: Request, action_id: str) -> Response:
    services = _services(request)

    async def decide(session: UiSession, fields: dict[str, str]) -> str:
        assert session.team_id is not None
        action_type = fields.pop("action_type", "")
        override = pages.payload_override(action_type, fields) if fields.pop("edited", "") == "1" else None
        result = await pages.approve(
            services.temporal,
            services.sessions,
            team_id=session.team_id,
            action_id=action_id,
            task_queue=services.settings.task_queue,
            override=override,
            approved_by=_who(session),
        )
        made = "draft" if result.action_type in DRAFT_ACTIONS else "event"
        return f"approved: {made} {result.provider_id} made"

    return await _decide(request, action_id, decide)


@router.post("/actions/{action_id}/reject")
async def reject(request: Request, action_id: str) -> Response:
    services = _services(request)

    async def decide(session: UiSession, fields: dict[str, str]) -> str:
        assert session.team_id is not None
        note = fields.get("note", "").strip() or None
        await pages.reject(
            services.temporal,
            services.sessions,
            team_id=session.team_id,
            action_id=action_id,
            task_queue=services.settings.task_queue,
            note=note,
            rejected_by=_who(session),
        )
        return "rejected" + (f" with the note: {note}" if note else "")

    return await _decide(request, action_id, decide)


@router.post("/actions/{action_id}/feedback")
async def feedback(request: Request, action_id: str) -> Response:
    services = _services(request)

    async def decide(session: UiSession, fields: dict[str, str]) -> str:
        assert session.team_id is not None
        rating = fields.get("rating")
        if rating not in ("positive", "negative"):
            raise InvalidInputError("choose positive or negative feedback")
        await pages.feedback(
            services.temporal,
            services.sessions,
            team_id=session.team_id,
            action_id=action_id,
            task_queue=services.settings.task_queue,
            positive=rating == "positive",
            note=fields.get("note", "").strip() or None,
            given_by=_who(session),
        )
        return f"{rating} feedback recorded"

    return await _decide(request, action_id, decide)


# -- jobs and discussions ----------------------------------------------------------------------


@router.get("/jobs")
async def jobs(
    request: Request, status: str | None = None, stage: str | None = None, cursor: str | None = None
) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    listing = await pages.jobs(
        _services(request).sessions, team_id=session.team_id, status=status or None, stage=stage or None, cursor=cursor
    )
    return page(
        request,
        "jobs.html",
        title="Jobs",
        jobs=listing,
        status=status or "",
        stage=stage or "",
        statuses=pages.JOB_STATUSES,
        stages=pages.JOB_STAGES,
    )


@router.get("/jobs/{job_id}")
async def job(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    found = await pages.job(_services(request).sessions, team_id=session.team_id, job_id=job_id)
    return page(request, "job.html", title=f"Job {found.id}", job=found)


@router.post("/jobs/{job_id}/retry")
async def retry_job(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    await form_of(request)
    assert session.team_id is not None
    services = _services(request)
    try:
        found, accepted = await pages.retry_job(
            services.temporal,
            services.sessions,
            team_id=session.team_id,
            job_id=job_id,
            retried_by=_who(session),
            task_queue=services.settings.task_queue,
        )
    except (InvalidInputError, ConflictError) as err:
        session.flash("error", "retry refused: " + " ".join(str(err).split()))
        return redirect(back(request, f"/ui/jobs/{job_id}"))
    new_job = f"job {accepted.job.id}" if accepted.job else "a new job"
    session.flash("ok", f"retry started: {new_job} runs in workflow {accepted.workflow_id}")
    return redirect(f"/ui/discussions/{found.discussion_id}")


@router.get("/discussions/{discussion_id}")
async def discussion(request: Request, discussion_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    found = await pages.discussion(_services(request).sessions, team_id=session.team_id, discussion_id=discussion_id)
    return page(request, "discussion.html", title=found.title, discussion=found, jobs=found.jobs, tasks=found.tasks)


# -- work orders -------------------------------------------------------------------------------


@router.get("/work-orders")
async def work_orders(
    request: Request, failed_cursor: str | None = None, batches_cursor: str | None = None
) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    services = _services(request)
    found = await pages.work_orders(services.sessions, team_id=session.team_id, failed_cursor=failed_cursor)
    batches = await pages.batches(services.sessions, team_id=session.team_id, cursor=batches_cursor)
    return page(
        request,
        "work_orders.html",
        title="Work orders",
        numbers={order.id: order.work_order_number for order in found["orders"]},
        drain_id=export_drain_workflow_id(services.settings.task_queue),
        batches=batches,
        **found,
    )


@router.get("/batches/{batch_id}")
async def batch(request: Request, batch_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    found = await pages.batch(_services(request).sessions, team_id=session.team_id, batch_id=batch_id)
    return page(request, "batch.html", title=f"Batch {found['batch']['source']}", **found)


@router.get("/work-orders/{work_order_id}")
async def work_order(request: Request, work_order_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    services = _services(request)
    found = await pages.work_order(services.sessions, team_id=session.team_id, work_order_id=work_order_id)
    return page(
        request,
        "work_order.html",
        title=f"Work order {found['order'].work_order_number}",
        drain_id=export_drain_workflow_id(services.settings.task_queue),
        **found,
    )


@router.post("/exports/{job_id}/retry")
async def retry_export(request: Request, job_id: str) -> Response:
    session = await signed_in(request)
    await form_of(request)
    assert session.team_id is not None
    services = _services(request)
    try:
        await pages.retry_export(
            services.temporal,
            services.sessions,
            team_id=session.team_id,
            job_id=job_id,
            task_queue=services.settings.task_queue,
        )
    except (InvalidInputError, ConflictError) as err:
        session.flash("error", "retry refused: " + " ".join(str(err).split()))
        return redirect(back(request, "/ui/work-orders"))
    session.flash("ok", f"export job {job_id} is queued again: the drain retries it now")
    return redirect(back(request, "/ui/work-orders"))


# -- runs (the engine mirror) ------------------------------------------------------------------


@router.get("/runs")
async def runs(
    request: Request,
    type: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    filters = {"workflow_type": type or None, "status": status or None, "since": since or None, "until": until or None}
    listing = await pages.runs(_services(request).sessions, team_id=session.team_id, cursor=cursor, **filters)
    query = "&".join(
        f"{name}={quote(value, safe='')}"
        for name, value in (("type", type), ("status", status), ("since", since), ("until", until))
        if value
    )
    return page(
        request,
        "runs.html",
        title="Runs",
        statuses=pages.EXECUTION_STATUSES,
        filters=filters,
        query=query,
        **listing,
    )


@router.get("/runs/{workflow_id:path}/{run_id}")
async def run(request: Request, workflow_id: str, run_id: str) -> Response:
    session = await signed_in(request)
    assert session.team_id is not None
    found = await pages.run(
        _services(request).sessions, team_id=session.team_id, workflow_id=workflow_id, run_id=run_id
    )
    return page(request, "run.html", title=f"Run of {found['execution']['workflow_type']}", **found)


@router.api_route("/{path:path}", methods=["GET", "POST"])
async def unknown(request: Request, path: str) -> Response:
    return error_page(request, 404, f"the dashboard has no page /ui/{path}")
