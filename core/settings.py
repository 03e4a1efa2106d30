"""Configuration from environment variables (pydantic-settings).

Every knob has an embedded default, so a fresh checkout runs with nothing set:
when DATABASE_URL or TEMPORAL_ADDRESS is unset, the values come from the
embedded stack that `intake up` started (its state file), and outside
services point at the local sandbox. Production sets them explicitly.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.dates import DateOrder, parse_date_order
from core.errors import ConfigurationError, InvalidInputError
from core.state import StackState, read_state

# Words in a database URL that mark it as production: destructive commands refuse it.
PRODUCTION_URL_MARKERS = ("prod", ".com", "rds.amazonaws")


class Settings(BaseSettings):
    """All of intake's settings; build one per process, in the entry point."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    intake_env: str = Field("development", validation_alias="INTAKE_ENV")
    state_dir: Path = Field(Path(".intake"), validation_alias="INTAKE_STATE_DIR")

    # PostgreSQL: at most DB_POOL_SIZE connections, idle ones replaced after 20 s.
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    db_pool_size: int = Field(10, ge=1, validation_alias="DB_POOL_SIZE")
    db_pool_idle_timeout: float = Field(20.0, gt=0, validation_alias="DB_POOL_IDLE_TIMEOUT")
    db_connect_timeout: float = Field(10.0, gt=0, validation_alias="DB_CONNECT_TIMEOUT")
    # How long an activity attempt waits for PostgreSQL to answer again after losing its
    # connection, then runs again (activities/interceptors.py); workflows/policies.py's
    # timeouts allow 5 minutes of it.
    db_outage_timeout: float = Field(300.0, ge=0, validation_alias="DB_OUTAGE_TIMEOUT")
    # TLS to PostgreSQL (a managed database): libpq's modes (disable, allow, prefer, require,
    # verify-ca, verify-full), also read from DATABASE_URL's `sslmode=`; the server's CA and a
    # client certificate as files (db/tls.py).
    db_ssl_mode: str | None = Field(None, validation_alias="DB_SSL_MODE")
    db_ssl_root_cert: Path | None = Field(None, validation_alias="DB_SSL_ROOT_CERT")
    db_ssl_cert: Path | None = Field(None, validation_alias="DB_SSL_CERT")
    db_ssl_key: Path | None = Field(None, validation_alias="DB_SSL_KEY")

    # The engine mirror: workers record every activity attempt (job_attempts); the mirror keeps
    # runs closed within the retention (pruned daily by the `prune-mirror` Schedule); the feed
    # polls Temporal every MIRROR_POLL_INTERVAL seconds.
    mirror_attempts: bool = Field(True, validation_alias="MIRROR_ATTEMPTS")
    mirror_retention_days: int = Field(30, ge=1, validation_alias="MIRROR_RETENTION_DAYS")
    mirror_poll_interval: float = Field(0.25, gt=0, validation_alias="MIRROR_POLL_INTERVAL")
    # A visibility query limiting the mirror to some runs (e.g. "TaskQueue = 'intake'"); all when unset.
    mirror_query: str | None = Field(None, validation_alias="MIRROR_QUERY")

    # Temporal.
    temporal_address: str | None = Field(None, validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_ui_url: str | None = Field(None, validation_alias="TEMPORAL_UI_URL")
    task_queue: str = Field("intake", validation_alias=AliasChoices("INTAKE_TASK_QUEUE", "TASK_QUEUE"))
    # A Temporal cluster with TLS, or Temporal Cloud (core/temporal.py): mTLS with a client
    # certificate and key (files), or an API key (which turns TLS on unless TEMPORAL_TLS=false).
    # TEMPORAL_TLS=true alone uses TLS with the system's CAs; TEMPORAL_TLS_CA names the server's CA.
    temporal_tls: bool | None = Field(None, validation_alias="TEMPORAL_TLS")
    temporal_tls_cert: Path | None = Field(None, validation_alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(None, validation_alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(None, validation_alias="TEMPORAL_TLS_CA")
    temporal_tls_server_name: str | None = Field(None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    temporal_api_key: SecretStr | None = Field(None, validation_alias="TEMPORAL_API_KEY")

    # Processes: how long a worker, the API or the mirror waits at start for PostgreSQL and
    # Temporal to answer (client/readiness.py) before it gives up with one clear line.
    wait_timeout: float = Field(300.0, ge=0, validation_alias="INTAKE_WAIT_TIMEOUT")
    # Logs: `text` (one readable line per event) or `json` (one JSON object per line).
    log_format: str = Field("text", pattern="^(text|json)$", validation_alias="INTAKE_LOG_FORMAT")
    log_level: str = Field("INFO", validation_alias="INTAKE_LOG_LEVEL")
    # Telemetry, off unless configured, by OpenTelemetry's standard variables: traces go to an
    # OTLP/HTTP collector at OTEL_EXPORTER_OTLP_ENDPOINT; a process that talks to Temporal serves
    # the SDK's Prometheus metrics on OTEL_EXPORTER_PROMETHEUS_HOST:PORT (telemetry/).
    otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_sdk_disabled: bool = Field(False, validation_alias="OTEL_SDK_DISABLED")
    service_name: str | None = Field(None, validation_alias="OTEL_SERVICE_NAME")
    metrics_host: str = Field("127.0.0.1", validation_alias="OTEL_EXPORTER_PROMETHEUS_HOST")
    metrics_port: int | None = Field(None, ge=0, le=65535, validation_alias="OTEL_EXPORTER_PROMETHEUS_PORT")

    @field_validator(
        "temporal_api_key",
        "temporal_tls",
        "otlp_endpoint",
        "metrics_port",
        "db_ssl_mode",
        "temporal_tls_server_name",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`VAR=` (as compose writes `${VAR:-}`) means unset, not an empty key or endpoint."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.otlp_endpoint) and not self.otel_sdk_disabled

    def temporal_api_key_value(self) -> str | None:
        return self.temporal_api_key.get_secret_value() if self.temporal_api_key is not None else None

    # The HTTP API (`intake api`): where it listens, the largest request body it reads, and the
    # address people and services reach it at (links in output; default: the embedded stack's).
    api_host: str = Field("127.0.0.1", validation_alias="INTAKE_API_HOST")
    api_port: int = Field(8000, ge=0, le=65535, validation_alias="INTAKE_API_PORT")
    api_max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias="INTAKE_API_MAX_BODY_BYTES")
    api_url: str | None = Field(None, validation_alias="INTAKE_API_URL")
    # The web dashboard's (/ui/) cookie-signing secret. Unset: a secret generated once per state
    # directory (the embedded stack), or, with INTAKE_ENV=production, the dashboard refuses to sign anyone in.
    session_secret: SecretStr | None = Field(None, validation_alias="INTAKE_SESSION_SECRET")

    # Work orders: the order of an ambiguous numeric date (04/07/2024) when the FM profile sets none:
    # day_first, month_first, or none (leave such dates empty, with a warning). Read by `date_order`.
    date_order_setting: str = Field("day_first", validation_alias="INTAKE_DATE_ORDER")

    # Outside services. Each base URL, when unset, points at the sandbox
    # (SANDBOX_URL, or the one the embedded stack runs).
    sandbox_url: str | None = Field(None, validation_alias="SANDBOX_URL")
    slack_base_url: str | None = Field(None, validation_alias="SLACK_BASE_URL")
    slack_bot_token: SecretStr = Field(SecretStr("xoxb-sandbox"), validation_alias="SLACK_BOT_TOKEN")
    # The webhooks fail closed: with SLACK_SIGNING_SECRET or FIGMA_WEBHOOK_PASSCODE unset, every
    # request of that service is refused (503), never checked against a known default.
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    figma_base_url: str | None = Field(None, validation_alias="FIGMA_BASE_URL")
    figma_token: SecretStr = Field(SecretStr("figd-sandbox"), validation_alias="FIGMA_TOKEN")
    figma_webhook_passcode: SecretStr | None = Field(None, validation_alias="FIGMA_WEBHOOK_PASSCODE")
    # How long an API process keeps what it read of a webhook's mapping (Slack workspace or Figma
    # webhook -> team), so the ack path reads the database once per mapping and interval, not per event.
    webhook_mapping_ttl: float = Field(10.0, ge=0, validation_alias="INTAKE_WEBHOOK_MAPPING_TTL")
    # The webhook inbox (client/webhook_inbox.py): how many workflow starts each API process's
    # starter has in flight, and how long a started row is kept (it dedupes later deliveries).
    webhook_start_concurrency: int = Field(4, ge=1, le=100, validation_alias="INTAKE_WEBHOOK_START_CONCURRENCY")
    webhook_inbox_retention_days: int = Field(30, ge=1, validation_alias="INTAKE_WEBHOOK_INBOX_RETENTION_DAYS")
    notion_base_url: str | None = Field(None, validation_alias="NOTION_BASE_URL")
    notion_token: SecretStr = Field(SecretStr("secret_sandbox"), validation_alias="NOTION_TOKEN")
    gmail_base_url: str | None = Field(None, validation_alias="GMAIL_BASE_URL")
    calendar_base_url: str | None = Field(None, validation_alias="CALENDAR_BASE_URL")
    sheets_base_url: str | None = Field(None, validation_alias="SHEETS_BASE_URL")
    google_token: SecretStr = Field(SecretStr("ya29.sandbox"), validation_alias="GOOGLE_TOKEN")
    llm_base_url: str | None = Field(None, validation_alias="LLM_BASE_URL")
    llm_api_key: SecretStr = Field(SecretStr("sk-sandbox"), validation_alias="LLM_API_KEY")
    llm_model: str = Field("gpt-4o-mini", validation_alias="LLM_MODEL")
    outside_call_timeout: float = Field(30.0, gt=0, validation_alias="OUTSIDE_CALL_TIMEOUT")

    # Where each service lives below the sandbox's URL, and in production. For the
    # Google APIs the base URL is the host root (the client appends the discovery
    # document's servicePath, e.g. "calendar/v3/").
    SANDBOX_PATHS: ClassVar[dict[str, str]] = {
        "slack": "/slack/api/",
        "figma": "/figma",
        "notion": "/notion",
        "gmail": "/gmail/",
        "calendar": "/calendar/",
        "sheets": "/sheets/",
        "llm": "/openai/v1",
    }
    PRODUCTION_URLS: ClassVar[dict[str, str]] = {
        "slack": "https://slack.com/api/",
        "figma": "https://api.figma.com",
        "notion": "https://api.notion.com",
        "gmail": "https://gmail.googleapis.com/",
        "calendar": "https://www.googleapis.com/",
        "sheets": "https://sheets.googleapis.com/",
        "llm": "https://api.openai.com/v1",
    }

    def service_base_url(self, service: str) -> str:
        """The base URL of ``service``: its own setting, else the sandbox's path, else the real service."""
        if service not in self.SANDBOX_PATHS:
            raise ConfigurationError(f"unknown outside service {service!r}; known: {sorted(self.SANDBOX_PATHS)}")
        explicit: str | None = getattr(self, f"{service}_base_url")
        if explicit:
            return explicit
        sandbox = self.resolved_sandbox_url()
        if sandbox is not None:
            return sandbox + self.SANDBOX_PATHS[service]
        return self.PRODUCTION_URLS[service]

    @property
    def date_order(self) -> DateOrder | None:
        """INTAKE_DATE_ORDER as a date order (None: no default); a bad value is a ConfigurationError."""
        try:
            return parse_date_order(self.date_order_setting, what="INTAKE_DATE_ORDER")
        except InvalidInputError as err:
            raise ConfigurationError(str(err)) from None

    @cached_property
    def stack(self) -> StackState | None:
        """The running embedded stack, if `intake up` (or the demo) started one."""
        return read_state(self.state_dir)

    def require_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.stack is not None:
            return self.stack.database_url
        raise ConfigurationError(
            "DATABASE_URL is not set and no embedded stack is running: start one with `intake up`, or set DATABASE_URL."
        )

    def require_temporal_address(self) -> str:
        if self.temporal_address:
            return self.temporal_address
        if self.stack is not None:
            return self.stack.temporal_address
        raise ConfigurationError(
            "TEMPORAL_ADDRESS is not set and no embedded stack is running: "
            "start one with `intake up`, or set TEMPORAL_ADDRESS."
        )

    def resolved_temporal_ui_url(self) -> str | None:
        if self.temporal_ui_url:
            return self.temporal_ui_url
        return self.stack.temporal_ui_url if self.stack is not None else None

    def resolved_api_url(self) -> str | None:
        """Where the API is reached: INTAKE_API_URL, else the embedded stack's API, else unknown."""
        if self.api_url:
            return self.api_url.rstrip("/")
        if self.stack is not None and self.stack.api_url:
            return self.stack.api_url.rstrip("/")
        return None

    def resolved_sandbox_url(self) -> str | None:
        if self.sandbox_url:
            return self.sandbox_url.rstrip("/")
        if self.stack is not None and self.stack.sandbox_url:
            return self.stack.sandbox_url.rstrip("/")
        return None
