"""The API's telemetry: `/metrics` in Prometheus' text format, and traces of every request.

The lead wires two calls into `api.app:create_app(settings)`:

    metrics = instrument_api(app, settings, sessions=sessions)   # traces (when configured) + /metrics
    record_webhook(request, "slack", "accepted")                 # in a webhook handler

`/metrics` serves:

- `intake_http_requests_total{method,route,status}` and
  `intake_http_request_duration_seconds{method,route}`: every request, by route template
  (`/api/teams/{team_id}/jobs`, never the raw path, so ids do not make new series);
- `intake_webhook_outcomes_total{source,outcome}`: what each webhook delivery came to
  (`record_webhook`: accepted, duplicate, ignored, rejected, ...);
- `intake_export_jobs{status}`: the Sheets export queue by status, read from PostgreSQL at
  each scrape;
- `intake_mirror_lag_seconds`: how far the engine mirror is behind Temporal, from the
  `mirror_lag` callable when one is given (or `ApiMetrics.set_mirror_lag`);
- `intake_webhook_inbox_pending`, `intake_webhook_inbox_retrying` and
  `intake_webhook_inbox_oldest_pending_seconds`: acknowledged webhook events whose
  workflow is not started yet (client/webhook_inbox.py), when `inbox_source` is set.

Each app has a registry of its own, so two apps (or two tests) never share counters. When the
sessions exist only once the app starts (built in its lifespan), set them there:
`app.state.metrics.sessions = sessions`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from db.repositories.exports import ExportJobRepository
from telemetry.tracing import setup_tracing

log = logging.getLogger(__name__)

EXPORT_STATUSES = ("PENDING", "PROCESSING", "DONE", "FAILED")
# Paths whose requests are not traced (probes and scrapes would drown the traces).
UNTRACED = "healthz,readyz,metrics"


class ApiMetrics:
    """The API's Prometheus metrics, in a registry of their own."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        mirror_lag: Callable[[], Awaitable[float | None]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.sessions = sessions
        self.mirror_lag_source = mirror_lag
        self.inbox_source: Callable[[], Awaitable[Any]] | None = None
        self.requests = Counter(
            "intake_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "intake_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "intake_webhook_outcomes", "Webhook deliveries by outcome", ["source", "outcome"], registry=self.registry
        )
        self.export_jobs = Gauge(
            "intake_export_jobs", "Sheets export jobs by status", ["status"], registry=self.registry
        )
        self.mirror_lag = Gauge(
            "intake_mirror_lag_seconds", "How far the engine mirror is behind Temporal", registry=self.registry
        )
        self.inbox_pending = Gauge(
            "intake_webhook_inbox_pending", "Acknowledged webhook events not started yet", registry=self.registry
        )
        self.inbox_retrying = Gauge(
            "intake_webhook_inbox_retrying", "Inbox events whose start failed and waits to be tried again",
            registry=self.registry,
        )  # fmt: skip
        self.inbox_oldest = Gauge(
            "intake_webhook_inbox_oldest_pending_seconds", "Age of the oldest inbox event not started yet",
            registry=self.registry,
        )  # fmt: skip

    def record_webhook(self, source: str, outcome: str) -> None:
        self.webhooks.labels(source=source, outcome=outcome).inc()

    def set_mirror_lag(self, seconds: float) -> None:
        self.mirror_lag.set(seconds)

    async def refresh(self) -> None:
        """Read what comes from elsewhere (the export queue, the mirror's lag) just before a scrape."""
        if self.sessions is not None:
            try:
                async with self.sessions() as session:
                    counts = await ExportJobRepository().status_counts(session=session)
                for status in {*EXPORT_STATUSES, *counts}:
                    self.export_jobs.labels(status=status).set(counts.get(status, 0))
            except Exception as err:  # a scrape while the database is away keeps the last values
                log.warning("export queue depth not read: %s", type(err).__name__)
        if self.mirror_lag_source is not None:
            try:
                lag = await self.mirror_lag_source()
            except Exception as err:
                log.warning("mirror lag not read: %s", type(err).__name__)
            else:
                if lag is not None:
                    self.mirror_lag.set(lag)
        if self.inbox_source is not None:
            try:
                inbox = await self.inbox_source()
            except Exception as err:
                log.warning("webhook inbox not read: %s", type(err).__name__)
            else:
                self.inbox_pending.set(inbox.pending)
                self.inbox_retrying.set(inbox.retrying)
                self.inbox_oldest.set(inbox.oldest_pending_seconds or 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by its route template."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(time.perf_counter() - started)


def install_metrics(
    app: Any,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    mirror_lag: Callable[[], Awaitable[float | None]] | None = None,
    path: str = "/metrics",
) -> ApiMetrics:
    """Count every request of the FastAPI `app` and serve the metrics at `path`; returns them
    (also at `app.state.metrics`)."""
    from fastapi import Response

    metrics = ApiMetrics(sessions=sessions, mirror_lag=mirror_lag)
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)

    async def serve_metrics() -> Response:
        await metrics.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(path, serve_metrics, methods=["GET"], include_in_schema=False)
    return metrics


def instrument_api(
    app: Any,
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    mirror_lag: Callable[[], Awaitable[float | None]] | None = None,
) -> ApiMetrics:
    """Traces of every request when OTEL_EXPORTER_OTLP_ENDPOINT is set (FastAPI's instrumentation,
    linked to the Temporal client's spans it starts), and `/metrics` always."""
    provider = setup_tracing(settings, service="intake-api")
    if provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED)
    return install_metrics(app, sessions=sessions, mirror_lag=mirror_lag)


def record_webhook(request: Any, source: str, outcome: str) -> None:
    """Count one webhook delivery's outcome on the app's metrics (nothing when none are installed)."""
    metrics = getattr(request.app.state, "metrics", None)
    if isinstance(metrics, ApiMetrics):
        metrics.record_webhook(source, outcome)
