"""The sandbox HTTP server: every imitated service under its prefix, plus the control API.

Mount points (what the official SDKs are pointed at):

==========  ====================  ==============================================
service     prefix                the client's base URL
==========  ====================  ==============================================
Slack       ``/slack``            ``{url}/slack/api/``
Figma       ``/figma``            ``{url}/figma`` (then ``/v1/files/...``)
Notion      ``/notion``           ``{url}/notion`` (the SDK appends ``/v1/``)
Gmail       ``/gmail``            root ``{url}/gmail/`` (paths ``gmail/v1/...``)
Calendar    ``/calendar``         root ``{url}/calendar/`` (paths ``calendar/v3/...``)
Sheets      ``/sheets``           root ``{url}/sheets/`` (paths ``v4/...``)
LLM         ``/openai``           ``{url}/openai/v1``
==========  ====================  ==============================================

The Google prefixes stand for the real hosts (``gmail.googleapis.com``,
``www.googleapis.com``, ``sheets.googleapis.com``): below them the paths are
exactly the ones the static discovery documents build.

Control API (``/_sandbox/``): ``health``, ``reset``, ``fixtures``, ``calls``,
``created``, ``faults``, ``revoke`` and per-service helpers; see
:mod:`sandbox.control` for a client.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from sandbox.calendar import CalendarService
from sandbox.core import (
    CallLog,
    Dispatcher,
    FaultBook,
    FaultSpec,
    IdSource,
    Service,
    control_error,
    control_json,
    json_response,
)
from sandbox.figma import FigmaService
from sandbox.gmail import GmailService
from sandbox.llm import LlmService
from sandbox.notion import NotionService
from sandbox.sheets import SheetsService
from sandbox.slack import SlackService

PREFIXES: dict[str, str] = {
    "slack": "/slack",
    "figma": "/figma",
    "notion": "/notion",
    "gmail": "/gmail",
    "calendar": "/calendar",
    "sheets": "/sheets",
    "llm": "/openai",
}


class SandboxServer:
    """One aiohttp server imitating every outside service; in-memory.

    Seed data and fault draws follow the seed; the ids of what clients create never
    repeat across instances or resets (see :class:`sandbox.core.IdSource`).
    """

    def __init__(self, seed: int = 0) -> None:
        self.url: str | None = None
        self.ids = IdSource(seed)
        self.faults = FaultBook(self.ids)
        self.log = CallLog()
        self._stopping = asyncio.Event()
        self.dispatcher = Dispatcher(self.ids, self.faults, self.log, self._stopping)
        self.services: dict[str, Service] = {
            "slack": SlackService(self.ids),
            "figma": FigmaService(self.ids),
            "notion": NotionService(self.ids),
            "gmail": GmailService(self.ids),
            "calendar": CalendarService(self.ids),
            "sheets": SheetsService(self.ids),
            "llm": LlmService(self.ids),
        }
        self._runner: web.AppRunner | None = None

    # --- lifecycle --------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for name, service in self.services.items():
            prefix = PREFIXES[name]
            for endpoint in service.endpoints():
                app.router.add_route(endpoint.method, prefix + endpoint.path, self.dispatcher.wrap(service, endpoint))
            for method, path, handler in service.control_routes():
                app.router.add_route(method, f"/_sandbox/{name}{path}", handler)
        control = [
            ("GET", "/_sandbox/health", self.health),
            ("POST", "/_sandbox/reset", self.reset),
            ("GET", "/_sandbox/fixtures", self.fixtures),
            ("GET", "/_sandbox/calls", self.calls),
            ("GET", "/_sandbox/created", self.created),
            ("GET", "/_sandbox/faults", self.list_faults),
            ("PUT", "/_sandbox/faults/{service}/{operation}", self.set_fault),
            ("DELETE", "/_sandbox/faults", self.clear_faults),
            ("DELETE", "/_sandbox/faults/{service}", self.clear_faults),
            ("POST", "/_sandbox/revoke", self.revoke),
        ]
        for method, path, handler in control:
            app.router.add_route(method, path, handler)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError(f"the sandbox is already listening on {self.url}")
        self._stopping.clear()
        runner = web.AppRunner(self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening; calls that hang (fault injection) are released first."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset_state(self, seed: int | None = None) -> None:
        """Back to the seed data: no faults, no calls logged, no revoked tokens."""
        self.ids.seed(self.ids.current_seed if seed is None else seed)
        self.faults.clear()
        self.log.clear()
        self.dispatcher.revoked.clear()
        for service in self.services.values():
            service.reset()

    # --- control API ------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return json_response({"ok": True, "seed": self.ids.current_seed, "services": PREFIXES})

    async def reset(self, request: web.Request) -> web.Response:
        body = await control_json(request)
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, int):
            return control_error(f"seed must be an integer, got {seed!r}")
        self.reset_state(seed)
        return json_response({"ok": True, "seed": self.ids.current_seed})

    async def fixtures(self, request: web.Request) -> web.Response:
        return json_response({name: service.fixtures() for name, service in self.services.items()})

    async def calls(self, request: web.Request) -> web.Response:
        service = request.query.get("service")
        operation = request.query.get("operation")
        records = [
            r.as_dict()
            for r in self.log.records
            if (service is None or r.service == service) and (operation is None or r.operation == operation)
        ]
        counts = {
            key: n
            for key, n in self.log.counts.items()
            if (service is None or key.split(":", 1)[0] == service)
            and (operation is None or key.split(":", 1)[1] == operation)
        }
        return json_response({"calls": records, "counts": counts})

    async def created(self, request: web.Request) -> web.Response:
        service = request.query.get("service")
        kind = request.query.get("kind")
        if service is not None and service not in self.services:
            return control_error(f"unknown service {service!r}; known: {sorted(self.services)}", 404)
        out: dict[str, Any] = {}
        for name, svc in self.services.items():
            if service is not None and name != service:
                continue
            out[name] = {k: v for k, v in svc.created.items() if kind is None or k == kind}
        return json_response(out)

    async def list_faults(self, request: web.Request) -> web.Response:
        return json_response(
            {f"{service}:{operation}": spec.model_dump() for (service, operation), spec in self.faults.specs.items()}
        )

    async def set_fault(self, request: web.Request) -> web.Response:
        name = request.match_info["service"]
        operation = request.match_info["operation"]
        service = self.services.get(name)
        if service is None:
            return control_error(f"unknown service {name!r}; known: {sorted(self.services)}", 404)
        operations = sorted({e.operation for e in service.endpoints()})
        if operation != "*" and operation not in operations:
            return control_error(f"{name} has no operation {operation!r}; known: {operations} or '*'")
        try:
            spec = FaultSpec.model_validate(await control_json(request))
        except ValidationError as exc:
            return control_error(f"invalid fault spec: {exc.errors(include_url=False)}")
        if spec.quota_rate and not service.has_quota:
            return control_error(f"{name} has no quota distinct from its rate limit; use rate_limit_rate")
        if spec.malformed_rate and not service.is_llm:
            return control_error("malformed_rate applies to the llm service only")
        self.faults.set(name, operation, spec)
        return json_response({"ok": True, "service": name, "operation": operation, "fault": spec.model_dump()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        name = request.match_info.get("service")
        if name is not None and name not in self.services:
            return control_error(f"unknown service {name!r}; known: {sorted(self.services)}", 404)
        self.faults.clear(name)
        return json_response({"ok": True})

    async def revoke(self, request: web.Request) -> web.Response:
        body = await control_json(request)
        name, token = body.get("service"), body.get("token")
        if name not in self.services or not isinstance(token, str) or not token:
            return control_error(f"revoke needs a known 'service' ({sorted(self.services)}) and a 'token'")
        self.dispatcher.revoked.setdefault(name, set()).add(token)
        return json_response({"ok": True})
