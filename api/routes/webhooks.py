"""The webhooks: Slack's Events API, Figma webhooks v2, Notion webhooks.

Every request is checked before anything is read from it: Slack's v0 signature over the
raw body (five-minute window), Figma's passcode, Notion's `X-Notion-Signature`. An unset
SLACK_SIGNING_SECRET or FIGMA_WEBHOOK_PASSCODE refuses every request of that service
(503): there is no default to fall back on. A verified event that we do not act on
(an unknown workspace, a disabled config, a bot's message, another event type) is
answered 200 with nothing started, since an error would only make the service deliver
it again; the answer and the log line say why. A Slack or Figma event that starts a
thread's pipeline is kept in the webhook inbox and answered once that row is committed
(`accepted`, or `duplicate` when the thread was accepted before); the API's starter then
starts the thread's DiscussionWorkflow (client/webhook_inbox.py). The handler never
waits for Temporal or the pipeline. One log line per request (logger `api.webhooks`), never the body or a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import Services, ServicesDep
from api.problems import ApiProblem, problem_responses
from client.webhook_inbox import InboxWriter
from client.webhooks import (
    Outcome,
    SourceMap,
    ThreadTrigger,
    accept_thread,
    notion_handshake,
    notion_integration,
    parse_figma_event,
    parse_json_object,
    parse_slack_event,
    record_notion_event,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from integrations.errors import WebhookVerificationError
from integrations.figma import verify_figma_passcode
from integrations.slack import SlackRequestVerifier
from telemetry.api import record_webhook

log = logging.getLogger("api.webhooks")

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

RESPONSES = problem_responses(400, 401, 413, 415, 503)


@dataclass
class Webhooks:
    """What the webhook routes keep per app: the Slack verifier, the cached source mapping, and the
    webhook inbox's writer (built in the app's lifespan, with the starter that drains the inbox)."""

    slack: SlackRequestVerifier | None
    sources: SourceMap
    inbox: InboxWriter


def build_webhooks(services: Services, inbox: InboxWriter) -> Webhooks:
    settings = services.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    return Webhooks(
        slack=SlackRequestVerifier(secret) if secret else None,
        sources=SourceMap(services.sessions, ttl=settings.webhook_mapping_ttl),
        inbox=inbox,
    )


async def get_webhooks(request: Request) -> Webhooks:
    hooks: Webhooks = request.app.state.webhooks
    return hooks


WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


def _refuse(request: Request, service: str, status: int, detail: str, **fields: Any) -> ApiProblem:
    record_webhook(request, service, "rejected")
    log.warning("%s refused %s: %s%s", service, status, detail, _fields(fields))
    return ApiProblem(status, detail)


def _fields(fields: dict[str, Any]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return f" ({shown})" if shown else ""


def _answer(request: Request, service: str, outcome: Outcome, **fields: Any) -> JSONResponse:
    record_webhook(request, service, outcome.action)
    log.info(
        "%s %s: %s%s",
        service,
        outcome.action,
        outcome.reason,
        _fields({"team": outcome.team_id, "workflow": outcome.workflow_id, **fields}),
    )
    return JSONResponse(outcome.answer())


async def _json_body(request: Request, service: str) -> bytes:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if media != "application/json":
        raise _refuse(request, service, 415, f"{service} webhooks are application/json, not {media or 'untyped'}")
    return body


async def _accept(service: str, hooks: Webhooks, trigger: ThreadTrigger) -> Outcome:
    try:
        return await accept_thread(hooks.inbox, hooks.sources, trigger)
    except Exception as err:  # PostgreSQL did not answer: the service delivers again later
        log.exception("%s failed to keep the event in the inbox: %s", service, type(err).__name__)
        raise ApiProblem(503, f"the event could not be kept now ({type(err).__name__}); deliver again") from err


@router.post(
    "/slack/events",
    summary="Slack Events API request URL (url_verification, event_callback with app_mention)",
    responses=RESPONSES,
)
async def slack_events(request: Request, hooks: WebhooksDep) -> JSONResponse:
    retry = request.headers.get("x-slack-retry-num")
    retry_fields = {"retry": retry, "retry_reason": request.headers.get("x-slack-retry-reason")}
    if hooks.slack is None:
        raise _refuse(
            request, "slack", 503, "SLACK_SIGNING_SECRET is not set: every Slack request is refused until it is"
        )
    body = await request.body()
    try:
        hooks.slack.verify(body, request.headers)
    except WebhookVerificationError as err:
        raise _refuse(request, "slack", 401, str(err), **retry_fields) from None
    body = await _json_body(request, "slack")
    try:
        envelope = parse_json_object(body, "the Slack request")
        if envelope.get("type") == "url_verification":
            challenge = envelope.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise InvalidInputError("url_verification has no challenge")
            log.info("slack answered: url_verification")
            return JSONResponse({"challenge": challenge})
        decided = parse_slack_event(envelope)
    except InvalidInputError as err:
        raise _refuse(request, "slack", 400, str(err), **retry_fields) from None
    fields = {"event_id": envelope.get("event_id"), **retry_fields}
    if isinstance(decided, Outcome):
        return _answer(request, "slack", decided, **fields)
    return _answer(request, "slack", await _accept("slack", hooks, decided), **fields)


@router.post("/figma", summary="Figma webhooks v2 endpoint (PING, FILE_COMMENT)", responses=RESPONSES)
async def figma(request: Request, services: ServicesDep, hooks: WebhooksDep) -> JSONResponse:
    passcode = services.settings.figma_webhook_passcode
    if passcode is None or not passcode.get_secret_value():
        raise _refuse(
            request, "figma", 503, "FIGMA_WEBHOOK_PASSCODE is not set: every Figma request is refused until it is"
        )
    body = await _json_body(request, "figma")
    try:
        payload = parse_json_object(body, "the Figma webhook")
    except InvalidInputError as err:
        raise _refuse(request, "figma", 400, str(err)) from None
    try:
        verify_figma_passcode(payload, passcode.get_secret_value())
    except WebhookVerificationError as err:
        raise _refuse(request, "figma", 400, str(err), webhook_id=payload.get("webhook_id")) from None
    try:
        decided = parse_figma_event(payload)
    except InvalidInputError as err:
        raise _refuse(request, "figma", 400, str(err)) from None
    fields = {"webhook_id": payload.get("webhook_id"), "comment_id": payload.get("comment_id")}
    if isinstance(decided, Outcome):
        return _answer(request, "figma", decided, **fields)
    return _answer(request, "figma", await _accept("figma", hooks, decided), **fields)


@router.post(
    "/notion/{integration_id}",
    summary="Notion webhook subscription URL (verification_token handshake, signed events)",
    responses=problem_responses(400, 401, 404, 409, 413, 415),
)
async def notion(integration_id: str, request: Request, services: ServicesDep) -> JSONResponse:
    body = await _json_body(request, "notion")
    try:
        integration = await notion_integration(services.sessions, integration_id)
    except InvalidInputError as err:
        raise _refuse(request, "notion", 400, str(err)) from None
    except NotFoundError as err:
        raise _refuse(request, "notion", 404, str(err)) from None
    signature = request.headers.get("x-notion-signature")
    try:
        if signature is None:
            payload = parse_json_object(body, "the Notion request")
            token = payload.get("verification_token")
            if not isinstance(token, str):
                raise WebhookVerificationError("Notion request lacks X-Notion-Signature")
            outcome = await notion_handshake(services.sessions, integration, token)
        else:
            outcome = await record_notion_event(services.sessions, integration, body, signature)
    except WebhookVerificationError as err:
        raise _refuse(request, "notion", 401, str(err), integration=integration.id) from None
    except InvalidInputError as err:
        raise _refuse(request, "notion", 400, str(err), integration=integration.id) from None
    except ConflictError as err:
        raise _refuse(request, "notion", 409, str(err), integration=integration.id) from None
    return _answer(request, "notion", outcome, integration=integration.id)
