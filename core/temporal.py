"""Connecting to Temporal: one place, so the worker and every client use the same converter,
the same TLS / API-key authentication and the same telemetry.

A local dev server takes a plain connection. A self-hosted cluster with TLS takes
TEMPORAL_TLS_CA (its CA) and, for mTLS, TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY; Temporal Cloud
takes either that client certificate or TEMPORAL_API_KEY (sent as a bearer token, over TLS).
When OTEL_EXPORTER_OTLP_ENDPOINT is set the client carries OpenTelemetry's Temporal interceptor,
which a worker built on it uses too, so a run's spans follow it from the client into the
workflow and its activities. When OTEL_EXPORTER_PROMETHEUS_PORT is set the process's Temporal
runtime serves the SDK's metrics there in Prometheus' text format.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from core.errors import ConfigurationError
from core.settings import Settings

# One runtime per process: its Prometheus endpoint binds a port once (keyed by that address).
_RUNTIMES: dict[str, Runtime] = {}


def tls_config(settings: Settings) -> TLSConfig | bool:
    """The client's TLS: a TLSConfig from the files named in settings, True for TLS with the system's
    CAs (TEMPORAL_TLS=true, or an API key without files and TEMPORAL_TLS unset), False for a plain
    connection."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if (cert is None) != (key is None):
        raise ConfigurationError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither")
    if settings.temporal_tls is False and (cert is not None or ca is not None):
        raise ConfigurationError("TEMPORAL_TLS=false, but TEMPORAL_TLS_CERT or TEMPORAL_TLS_CA is set")
    if cert is None and ca is None and settings.temporal_tls_server_name is None:
        if settings.temporal_tls is not None:
            return settings.temporal_tls
        return settings.temporal_api_key_value() is not None
    return TLSConfig(
        server_root_ca_cert=_read(ca, "TEMPORAL_TLS_CA") if ca is not None else None,
        client_cert=_read(cert, "TEMPORAL_TLS_CERT") if cert is not None else None,
        client_private_key=_read(key, "TEMPORAL_TLS_KEY") if key is not None else None,
        domain=settings.temporal_tls_server_name,
    )


def runtime(settings: Settings) -> Runtime | None:
    """The process's Temporal runtime serving Prometheus metrics, when a port is configured."""
    if settings.metrics_port is None:
        return None
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    if address not in _RUNTIMES:
        _RUNTIMES[address] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    return _RUNTIMES[address]


def interceptors(settings: Settings) -> list[Interceptor]:
    """The client's interceptors: OpenTelemetry's when traces are configured (the telemetry extra)."""
    if not settings.tracing_enabled:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:  # pragma: no cover - the image and `.[dev]` install the telemetry extra
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: install intake[telemetry]"
        ) from None
    return [TracingInterceptor()]


def connect_options(settings: Settings) -> dict[str, Any]:
    """Everything `Client.connect` is given besides the address (for `connect` and its tests)."""
    options: dict[str, Any] = {
        "namespace": settings.temporal_namespace,
        "data_converter": pydantic_data_converter,
        "tls": tls_config(settings),
        "api_key": settings.temporal_api_key_value(),
        "interceptors": interceptors(settings),
    }
    if (process_runtime := runtime(settings)) is not None:
        options["runtime"] = process_runtime
    return options


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client for TEMPORAL_ADDRESS (or the embedded stack) that speaks pydantic models, with the
    TLS / API key and telemetry the settings ask for.

    `lazy`: connect on first use instead of now (a server that answers requests while
    Temporal is away, and says so in its readiness, is built on one).
    """
    return await Client.connect(settings.require_temporal_address(), lazy=lazy, **connect_options(settings))


def _read(path: Any, what: str) -> bytes:
    try:
        return bytes(path.read_bytes())
    except OSError as err:
        raise ConfigurationError(f"{what}: cannot read {path}: {err.strerror}") from None


def ui_link(settings: Settings, workflow_id: str, run_id: str | None = None) -> str | None:
    """The Temporal UI page of one run (of the workflow's latest run without `run_id`), when the UI is known.

    The UI's route is /namespaces/<namespace>/workflows/<workflow id>/<run id>, each a single path
    segment, so every part is percent-encoded whole (`/` as %2F, `:` as %3A, like the UI's own
    encodeURIComponent): our workflow ids contain both, and an id left as it is opens the UI's 404 page.
    """
    base = settings.resolved_temporal_ui_url()
    if base is None:
        return None
    link = f"{base.rstrip('/')}/namespaces/{_segment(settings.temporal_namespace)}/workflows/{_segment(workflow_id)}"
    return f"{link}/{_segment(run_id)}" if run_id else link


def ui_list_link(settings: Settings, query: str) -> str | None:
    """The Temporal UI's workflow list filtered by a visibility query, when the UI is known."""
    base = settings.resolved_temporal_ui_url()
    if base is None:
        return None
    return f"{base.rstrip('/')}/namespaces/{_segment(settings.temporal_namespace)}/workflows?query={_segment(query)}"


def _segment(value: str) -> str:
    return quote(value, safe="")
