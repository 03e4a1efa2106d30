"""The sandbox's machinery shared by every service: endpoints, faults, the call log.

Each service (Slack, Figma, ...) is a :class:`Service`: it owns its in-memory
state, lists its :class:`Endpoint` objects and knows how its real counterpart
words an error. :class:`Dispatcher` wraps every endpoint with the same steps:
record the call, add latency, check the token, inject faults before the
handler (5xx, 429 rate limit, quota) or after a write (500 or a hang), and log
what was answered.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import BaseModel, Field

Handler = Callable[[web.Request], Awaitable[web.Response]]

# Set on a request when an LLM answer should be malformed (fault injection).
MALFORMED = web.RequestKey("sandbox_malformed", bool)

# How long a "hang" lasts at most; the client's timeout (or the server's stop) ends it sooner.
HANG_SECONDS = 600.0


class FaultSpec(BaseModel):
    """What goes wrong for one service operation (or all of a service's operations, ``*``).

    Rates are probabilities in [0, 1] drawn from the sandbox's seeded random
    generator. ``times`` limits how many faults fire before the spec removes
    itself (None: until cleared); latency applies to every matching call.
    """

    model_config = {"extra": "forbid"}

    error_rate: float = Field(0.0, ge=0, le=1, description="answer a 5xx before doing anything")
    rate_limit_rate: float = Field(0.0, ge=0, le=1, description="answer 429 with Retry-After")
    retry_after: int = Field(1, ge=0, description="seconds sent in Retry-After on rate limits")
    quota_rate: float = Field(0.0, ge=0, le=1, description="answer the service's quota-exhausted error")
    reject_rate: float = Field(
        0.0, ge=0, le=1, description="refuse the request as invalid (the service's own 4xx), writing nothing"
    )
    latency_ms: int = Field(0, ge=0, description="added before the call is handled")
    fail_after_write: Literal["error", "hang"] | None = Field(
        None, description="on a write: do it, then answer 500 ('error') or never answer ('hang')"
    )
    fail_after_write_rate: float = Field(1.0, ge=0, le=1)
    malformed_rate: float = Field(
        0.0, ge=0, le=1, description="LLM only: answer content that is not the JSON asked for"
    )
    times: int | None = Field(None, ge=1, description="faults to fire before this spec removes itself")


@dataclass(frozen=True)
class Endpoint:
    """One API operation at its real path, e.g. Slack ``chat.postMessage``."""

    method: str
    path: str
    operation: str
    handler: Handler
    write: bool = False


class Service(ABC):
    """One outside service the sandbox imitates."""

    name: str
    #: Whether the real service has a quota distinct from its rate limit.
    has_quota: bool = False
    #: Whether the service is an LLM (only then does ``malformed_rate`` make sense).
    is_llm: bool = False

    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.created: dict[str, list[dict[str, Any]]] = {}
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Restore the seed data and forget what was created."""

    @abstractmethod
    def endpoints(self) -> list[Endpoint]:
        """The API operations, at paths relative to the service's mount prefix."""

    @abstractmethod
    def token(self, request: web.Request) -> str | None:
        """The credential the request carries, or None when it carries none."""

    @abstractmethod
    def server_error(self) -> web.Response:
        """The service's own 5xx answer."""

    @abstractmethod
    def rate_limited(self, retry_after: int) -> web.Response:
        """The service's 429 answer, with Retry-After."""

    @abstractmethod
    def unauthorized(self) -> web.Response:
        """The service's answer to a missing or revoked credential."""

    @abstractmethod
    def rejected(self) -> web.Response:
        """The service's answer to a request it refuses as invalid (a permanent error)."""

    def quota_exhausted(self) -> web.Response:
        """The service's answer when a quota (not a rate) is used up."""
        raise NotImplementedError(f"{self.name} has no quota distinct from its rate limit")

    def fixtures(self) -> dict[str, Any]:
        """Identifiers of the seed data, for the demo and tests to address."""
        return {}

    def control_routes(self) -> list[tuple[str, str, Handler]]:
        """Extra control endpoints under ``/_sandbox/{name}/`` (method, path, handler)."""
        return []

    def record_created(self, kind: str, item: dict[str, Any]) -> None:
        self.created.setdefault(kind, []).append(item)


class IdSource:
    """Identifiers and randomness: seeded for the seed data and faults, never repeated for what is created.

    The seed data's ids (:meth:`next`, :meth:`hex`) and the fault draws (``faults``)
    follow the seed: the same seed, the same fixtures and the same sequence of faults.
    Everything created while the sandbox serves (pages, messages, drafts, events,
    comments, completions, delivered mail) gets an id no sandbox instance, earlier or
    later, hands out again (:meth:`tick`, :meth:`unique_hex`, ...), as the real services
    never reissue an id: the product's database outlives any one sandbox and keeps the
    ids an earlier one issued. Those ids come from the system's entropy and from a clock
    that only moves forward, which also keeps them ordered where the real ones are.
    """

    def __init__(self, seed: int) -> None:
        self.fresh = random.SystemRandom()
        self._last_tick = 0
        self.seed(seed)

    def seed(self, seed: int) -> None:
        self.current_seed = seed
        self.ids = random.Random(f"ids:{seed}")
        self.faults = random.Random(f"faults:{seed}")
        self.counter = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def hex(self, length: int) -> str:
        return "".join(self.ids.choice("0123456789abcdef") for _ in range(length))

    def tick(self) -> int:
        """Microseconds since the epoch, strictly increasing within this instance (and across resets)."""
        self._last_tick = max(self._last_tick + 1, time.time_ns() // 1000)
        return self._last_tick

    def unique_hex(self, length: int) -> str:
        return "".join(self.fresh.choice("0123456789abcdef") for _ in range(length))

    def unique_chars(self, alphabet: str, length: int) -> str:
        return "".join(self.fresh.choice(alphabet) for _ in range(length))

    def unique_uuid(self) -> str:
        return str(uuid.UUID(int=self.fresh.getrandbits(128), version=4))


@dataclass
class CallRecord:
    service: str
    operation: str
    method: str
    path: str
    query: dict[str, str]
    raw_body: bytes | None  # kept as received; decoded only when the log is read
    content_type: str
    status: int
    fault: str | None
    at: float

    @property
    def body(self) -> Any:
        """The request body: JSON and form bodies decoded, anything else as (truncated) text."""
        if self.raw_body is None:
            return None
        if self.content_type == "application/json":
            try:
                return json.loads(self.raw_body or b"null")
            except ValueError:
                pass
        if self.content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True))
        return self.raw_body.decode("utf-8", "replace")[:2000]

    def as_dict(self) -> dict[str, Any]:
        record = {name: value for name, value in self.__dict__.items() if name not in ("raw_body", "content_type")}
        return {**record, "body": self.body}


@dataclass
class CallLog:
    """Every call the sandbox served (the last ``maxlen``) and a count per operation."""

    maxlen: int = 50_000
    records: deque[CallRecord] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, record: CallRecord) -> None:
        if len(self.records) >= self.maxlen:
            self.records.popleft()
        self.records.append(record)
        self.counts[f"{record.service}:{record.operation}"] += 1

    def clear(self) -> None:
        self.records.clear()
        self.counts.clear()


class FaultBook:
    """Fault specs by (service, operation); an exact operation wins over ``*``."""

    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.specs: dict[tuple[str, str], FaultSpec] = {}

    def set(self, service: str, operation: str, spec: FaultSpec) -> None:
        self.specs[(service, operation)] = spec

    def clear(self, service: str | None = None) -> None:
        if service is None:
            self.specs.clear()
        else:
            self.specs = {k: v for k, v in self.specs.items() if k[0] != service}

    def match(self, service: str, operation: str) -> tuple[tuple[str, str], FaultSpec] | None:
        for key in ((service, operation), (service, "*")):
            if key in self.specs:
                return key, self.specs[key]
        return None

    def roll(self, key: tuple[str, str], spec: FaultSpec, rate: float) -> bool:
        """Whether a fault with probability ``rate`` fires now; counts it against ``times``."""
        if rate <= 0 or self.ids.faults.random() >= rate:
            return False
        if spec.times is not None:
            spec.times -= 1
            if spec.times <= 0:
                self.specs.pop(key, None)
        return True


class Dispatcher:
    """Wraps endpoints with recording, auth, latency and fault injection."""

    def __init__(self, ids: IdSource, faults: FaultBook, log: CallLog, stopping: asyncio.Event) -> None:
        self.ids = ids
        self.faults = faults
        self.log = log
        self.stopping = stopping
        self.revoked: dict[str, set[str]] = {}

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def wrap(self, service: Service, endpoint: Endpoint) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            body = None if request.method in ("GET", "HEAD") or not request.body_exists else await request.read()
            fault: str | None = None
            matched = self.faults.match(service.name, endpoint.operation)
            if matched is not None and matched[1].latency_ms:
                await self.pause(matched[1].latency_ms / 1000)
            token = service.token(request)
            if not token or token in self.revoked.get(service.name, set()):
                response = service.unauthorized()
            else:
                response, fault = await self._serve(service, endpoint, request, matched)
            self.log.add(
                CallRecord(
                    service=service.name,
                    operation=endpoint.operation,
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    raw_body=body,
                    content_type=request.content_type,
                    status=response.status,
                    fault=fault,
                    at=time.time(),
                )
            )
            if fault == "fail_after_write:hang":
                await self.pause(HANG_SECONDS)
            return response

        return handle

    async def _serve(
        self,
        service: Service,
        endpoint: Endpoint,
        request: web.Request,
        matched: tuple[tuple[str, str], FaultSpec] | None,
    ) -> tuple[web.Response, str | None]:
        if matched is not None:
            key, spec = matched
            if self.faults.roll(key, spec, spec.error_rate):
                return service.server_error(), "error"
            if self.faults.roll(key, spec, spec.rate_limit_rate):
                return service.rate_limited(spec.retry_after), "rate_limit"
            if service.has_quota and self.faults.roll(key, spec, spec.quota_rate):
                return service.quota_exhausted(), "quota"
            if self.faults.roll(key, spec, spec.reject_rate):
                return service.rejected(), "reject"
            if service.is_llm and self.faults.roll(key, spec, spec.malformed_rate):
                request[MALFORMED] = True
        response = await endpoint.handler(request)
        fault = "malformed" if request.get(MALFORMED) else None
        if matched is not None and endpoint.write and response.status < 300:
            key, spec = matched
            if spec.fail_after_write and self.faults.roll(key, spec, spec.fail_after_write_rate):
                if spec.fail_after_write == "error":
                    return service.server_error(), "fail_after_write:error"
                return response, "fail_after_write:hang"
        return response, fault


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def control_json(request: web.Request) -> dict[str, Any]:
    """The JSON object a control request carries ({} when it has no body)."""
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text='{"error": "the body is not valid JSON"}', content_type="application/json"
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "the body must be a JSON object"}', content_type="application/json")
    return body


def control_error(message: str, status: int = 400) -> web.Response:
    return json_response({"error": message}, status=status)
