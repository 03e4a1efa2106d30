"""Traces: OpenTelemetry, exported by OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, off unless set.

`setup_tracing(settings, service=...)` is called once by a process's entry point (the worker,
the API, a command) before it connects to Temporal or builds its HTTP clients. It installs the
global tracer provider (service name from OTEL_SERVICE_NAME, else `service`; other resource
attributes from OTEL_RESOURCE_ATTRIBUTES), a batching OTLP exporter (the exporter reads the
standard OTEL_EXPORTER_OTLP_* variables itself), and the aiohttp client instrumentation: every
call to an outside service (Slack's SDK on aiohttp, the httpx-based SDKs on aiohttp's pool,
integrations/http.py) becomes a client span under the activity that made it. The Temporal
interceptor that links client, workflow and activity spans is added by `core.temporal.connect`
whenever tracing is configured, and the API's spans by `telemetry.api.instrument_api`.

`exporter=` replaces OTLP (tests pass an in-memory exporter through the same setup).
"""

from __future__ import annotations

import logging
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)

_PROVIDER: Any = None


def setup_tracing(settings: Settings, *, service: str, exporter: Any = None) -> Any:
    """Install tracing for this process when configured (or given an exporter); returns the
    tracer provider, or None when tracing is off. Called again, it returns the first provider."""
    global _PROVIDER
    if _PROVIDER is not None:
        return _PROVIDER
    if exporter is None and not settings.tracing_enabled:
        return None
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES (ours win where both set a key).
    resource = Resource.create({"service.name": settings.service_name or service})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info("traces exported to %s", settings.otlp_endpoint)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    _PROVIDER = provider
    return provider


def shutdown_tracing() -> None:
    """Flush the spans still batched (at a process's end)."""
    if _PROVIDER is not None:
        _PROVIDER.shutdown()
