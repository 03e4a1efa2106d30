"""Telemetry, off unless configured: traces (OTLP), metrics (Prometheus), logs (JSON).

- A real `intake demo` with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an in-process OTLP/HTTP
  receiver (tests/otlp.py) and INTAKE_LOG_FORMAT=json: the spans of the demo's client, the
  worker's workflows and activities and the activities' HTTP calls to the sandbox arrive, linked
  under one trace per run; the worker's log has one JSON object per line, naming each activity
  line's run, and none of the tokens or email bodies the demo used.
- The API's `/metrics` (telemetry/api.py) on a FastAPI app of the test's own parses as
  Prometheus text with request counts and latencies, webhook outcomes, the export queue by
  status (from PostgreSQL) and the mirror lag; its requests are traced when OTLP is configured.
- A worker process's Temporal runtime serves Prometheus metrics on OTEL_EXPORTER_PROMETHEUS_PORT.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.deps import Deps
from client.health import start_health_check
from core.settings import Settings
from core.temporal import connect
from sandbox.seed_mail import seed_mail
from stack.embedded import SANDBOX_WEBHOOK_SECRETS
from stack.processes import free_port
from telemetry.api import instrument_api, record_webhook
from tests.otlp import Collector, Span
from tests.test_exports import queued_work_orders
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
CLIENT, SERVER = ProtoSpan.SpanKind.SPAN_KIND_CLIENT, ProtoSpan.SpanKind.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    receiver = Collector()
    receiver.start()
    yield receiver
    receiver.stop()


@dataclass
class DemoRun:
    collector: Collector
    state_dir: Path
    result: subprocess.CompletedProcess[str]


def telemetry_env(collector: Collector, **extra: str) -> dict[str, str]:
    """The process environment with OTLP to the collector, JSON logs, and no stack of the tests'."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS", "SANDBOX_URL")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
        INTAKE_LOG_FORMAT="json",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def demo(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One full `intake demo --json` on an embedded stack of its own, traced, with JSON logs."""
    state_dir = tmp_path_factory.mktemp("demo") / "state"
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--json"],
        cwd=ROOT,
        env=telemetry_env(collector, INTAKE_STATE_DIR=str(state_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    deadline = time.monotonic() + 10  # the worker's last batch is flushed as it stops
    while not any(s.name.startswith("RunActivity:") for s in collector.spans) and time.monotonic() < deadline:
        time.sleep(0.1)
    return DemoRun(collector, state_dir, result)


def test_a_traced_demo_links_client_workflow_activity_and_http_spans_in_one_trace(demo: DemoRun) -> None:
    spans = demo.collector.spans
    services = {s.service for s in spans}
    assert {"intake-demo", "intake-worker"} <= services
    # An outside call made by an activity of a discussion, traced back to the demo's start of the run.
    http = [
        s
        for s in spans
        if s.kind == CLIENT
        and s.service == "intake-worker"
        and {"http.request.method", "http.method"} & set(s.attributes)
    ]
    assert http, sorted({s.name for s in spans})
    linked: list[list[Span]] = []
    for span in http:
        chain = demo.collector.ancestry(span)
        names = [s.name for s in chain]
        if names[-1] == "StartWorkflow:DiscussionWorkflow":
            linked.append(chain)
    assert linked, "no HTTP span leads back to a client's StartWorkflow:DiscussionWorkflow"
    chain = linked[0]
    assert len({s.trace_id for s in chain}) == 1
    kinds = [s.name.split(":")[0] for s in chain]
    # The SDK's interceptor parents a workflow's spans (RunWorkflow, StartActivity, ...) on the
    # context the client sent with the start, so they are siblings under StartWorkflow.
    assert kinds[1:] == ["RunActivity", "StartActivity", "StartWorkflow"], kinds
    assert chain[-1].service == "intake-demo" and chain[1].service == "intake-worker"
    assert chain[1].name.startswith("RunActivity:discussion_")
    same_trace = {s.name for s in spans if s.trace_id == chain[0].trace_id}
    assert "RunWorkflow:DiscussionWorkflow" in same_trace
    assert str(chain[0].attributes.get("url.full", chain[0].attributes.get("http.url"))).startswith("http://127.0.0.1:")
    # Every discussion of the demo is one trace from the start that began its run to its last
    # activity (a start that found the run already going, as a webhook's redelivery does, runs nothing).
    starts = [s for s in spans if s.name == "StartWorkflow:DiscussionWorkflow"]
    began = [
        start
        for start in starts
        if any(s.trace_id == start.trace_id and s.name == "RunWorkflow:DiscussionWorkflow" for s in spans)
    ]
    assert len(began) >= 2, [s.service for s in starts]
    assert "intake-api" in {s.service for s in began}, "the webhook's start is traced from the API"
    for start in began:
        activities = {s.name for s in spans if s.trace_id == start.trace_id and s.name.startswith("RunActivity:")}
        assert "RunActivity:discussion_notify" in activities or "RunActivity:discussion_fail" in activities


def test_a_demo_runs_json_logs_hold_no_token_or_email_body(demo: DemoRun) -> None:
    worker_log = (demo.state_dir / "logs" / "worker.log").read_text()
    lines = [json.loads(line) for line in worker_log.splitlines()]  # every line is one JSON object
    assert len(lines) > 20
    activity_lines = [line for line in lines if line["logger"] == "intake.activity"]
    assert activity_lines and all(
        line["workflow_id"] and line["run_id"] and line["activity"] and line["worker"] for line in activity_lines
    )
    assert {line["activity"] for line in activity_lines} >= {"discussion_create_tasks", "discussion_notify"}
    demo_lines = [json.loads(line) for line in demo.result.stderr.splitlines() if line.startswith("{")]

    secrets = [
        value.get_secret_value()
        for value in Settings().model_dump().values()
        if hasattr(value, "get_secret_value") and value.get_secret_value()
    ]
    assert "xoxb-sandbox" in secrets and "ya29.sandbox" in secrets
    secrets += list(SANDBOX_WEBHOOK_SECRETS.values())  # what the stack gives its API for the webhooks
    bodies = [mail.body for mails in seed_mail().values() for mail in mails if len(mail.body) >= 20]
    assert bodies
    logged = worker_log + "\n".join(json.dumps(line) for line in demo_lines)
    logged += (demo.state_dir / "logs" / "sandbox.log").read_text()
    api_log = (demo.state_dir / "logs" / "api.log").read_text()
    api_lines = [json.loads(line) for line in api_log.splitlines()]  # JSON too, uvicorn's lines included
    assert any("/webhooks/slack/events" in line["message"] for line in api_lines), api_log[-2000:]
    logged += api_log
    for needle in [*secrets, *bodies, *(body.splitlines()[0] for body in bodies if len(body.splitlines()[0]) >= 20)]:
        assert needle not in logged, f"{needle[:40]!r} is in the demo's logs"


async def test_metrics_parse_as_prometheus_text_with_requests_webhooks_exports_and_mirror_lag(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await queued_work_orders(sessions, 3)
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.post("/webhooks/slack")
    async def slack(request: Request) -> dict[str, str]:
        record_webhook(request, "slack", "accepted")
        return {"ok": "yes"}

    async def lag() -> float:
        return 4.5

    metrics = instrument_api(app, Settings(), sessions=sessions, mirror_lag=lag)
    assert app.state.metrics is metrics
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        for path in ("/items/1", "/items/2", "/items/nope"):
            await http.get(path)
        await http.post("/webhooks/slack")
        await http.post("/webhooks/slack")
        await http.get("/missing")
        response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("intake_http_requests_total", method="GET", route="/items/{item_id}", status="200") == 2
    assert value("intake_http_requests_total", method="GET", route="/items/{item_id}", status="422") == 1
    assert value("intake_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value("intake_http_request_duration_seconds_count", method="GET", route="/items/{item_id}") == 3
    assert value("intake_webhook_outcomes_total", source="slack", outcome="accepted") == 2
    assert value("intake_export_jobs", status="PENDING") == 3 and value("intake_export_jobs", status="DONE") == 0
    assert value("intake_mirror_lag_seconds") == 4.5


def test_api_requests_are_traced_when_otlp_is_configured(collector: Collector, tmp_path: Path) -> None:
    """instrument_api on a tiny app in a process of its own (tracing is process-wide): each
    request is a server span named by its route; probes and scrapes are not traced."""
    script = textwrap.dedent(
        """
        import asyncio
        import httpx
        from fastapi import FastAPI
        from core.settings import Settings
        from telemetry.api import instrument_api
        from telemetry.tracing import shutdown_tracing

        app = FastAPI()

        @app.get("/api/teams/{team_id}/jobs")
        async def jobs(team_id: str) -> list[str]:
            return []

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        instrument_api(app, Settings())

        async def main() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                await http.get("/api/teams/acme/jobs")
                await http.get("/healthz")
                await http.get("/metrics")

        asyncio.run(main())
        shutdown_tracing()
        """
    )
    service = f"intake-api-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=telemetry_env(collector, OTEL_SERVICE_NAME=service, INTAKE_STATE_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    servers = [s for s in collector.spans if s.service == service and s.kind == SERVER]
    assert [s.name for s in servers] == ["GET /api/teams/{team_id}/jobs"]
    assert servers[0].attributes.get("http.route") == "/api/teams/{team_id}/jobs"


async def test_a_worker_serves_the_sdks_prometheus_metrics(settings: Settings, deps: Deps) -> None:
    port = free_port()
    own = settings.model_copy(update={"metrics_port": port})
    client = await connect(own)
    async with build_worker(client, deps, task_queue=settings.task_queue):
        handle = await start_health_check(client, task_queue=settings.task_queue, pause_seconds=0)
        await handle.result()
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert response.status_code == 200
    assert {"temporal_workflow_completed", "temporal_activity_execution_latency"} & families, sorted(families)[:20]
