"""Logs: one line per event, JSON when INTAKE_LOG_FORMAT=json, never a secret.

`configure_logging(settings, service=...)` sets the root logger of a process (worker, API,
mirror, a command) once:

- every record carries where it happened: the process's worker identity (`pid@host`, the
  identity Temporal records for the tasks this process runs) and, inside a workflow or an
  activity, the workflow id, run id, workflow type, activity type, activity id and attempt
  (from the Temporal SDK's loggers, or from the activity's context for a plain logger);
- JSON lines have fixed keys (`ts`, `level`, `logger`, `message`, the context above, `exc`
  for an exception); a record's `extra` fields are not copied, so nothing a caller attaches
  (a payload, an email body) reaches the log by accident;
- `SecretMasker` replaces every secret the settings hold (service tokens, the webhook secrets,
  the Temporal API key, the database password) with `***`, and masks what looks like a
  credential anyway (a URL's password, a bearer token, a Slack token), in the message, the
  exception and its traceback alike.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from core.settings import Settings

MASK = "***"
# Credentials we mask wherever they appear, configured or not.
_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?i)\b(password|passwd|pwd|api[_-]?key|token|secret)=([^\s&]+)"), r"\1=" + MASK),
]
# Libraries that log every HTTP request at INFO (a URL per call): only their warnings are kept.
_CHATTY = ("httpx", "httpcore", "urllib3", "googleapiclient.discovery_cache")
# Attributes a LogRecord has of its own (anything else came in `extra`).
_CONTEXT_KEYS = ("workflow_id", "run_id", "workflow_type", "activity", "activity_id", "attempt", "task_queue")


def worker_identity() -> str:
    """This process's identity as Temporal's clients default to it (`pid@host`)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, longest first (so one is never half-masked by another)."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
    url = settings.database_url or (settings.stack.database_url if settings.stack is not None else None)
    if url:
        try:
            password = make_url(url).password
        except Exception:  # an unparseable URL: the pattern for URL passwords still applies
            password = None
        if password:
            found.add(str(password))
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


class SecretMasker:
    """Replaces the given secrets and anything that looks like a credential with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow / activity a record was logged in, from the SDK's loggers' extras or the activity."""
    context: dict[str, Any] = {}
    from_workflow = getattr(record, "temporal_workflow", None)
    if isinstance(from_workflow, dict):
        context.update(
            workflow_id=from_workflow.get("workflow_id"),
            run_id=from_workflow.get("run_id"),
            workflow_type=from_workflow.get("workflow_type"),
            task_queue=from_workflow.get("task_queue"),
        )
    from_activity = getattr(record, "temporal_activity", None)
    if isinstance(from_activity, dict):
        context.update(
            workflow_id=from_activity.get("workflow_id"),
            run_id=from_activity.get("workflow_run_id"),
            workflow_type=from_activity.get("workflow_type"),
            activity=from_activity.get("activity_type"),
            activity_id=from_activity.get("activity_id"),
            attempt=from_activity.get("attempt"),
            task_queue=from_activity.get("task_queue"),
        )
    elif "activity" not in context:
        from temporalio import activity

        if activity.in_activity():
            info = activity.info()
            context.update(
                workflow_id=info.workflow_id,
                run_id=info.workflow_run_id,
                workflow_type=info.workflow_type,
                activity=info.activity_type,
                activity_id=info.activity_id,
                attempt=info.attempt,
                task_queue=info.task_queue,
            )
    return {key: context[key] for key in _CONTEXT_KEYS if context.get(key) is not None}


class _Formatter(logging.Formatter):
    def __init__(self, mask: SecretMasker, service: str, identity: str) -> None:
        super().__init__()
        self.mask, self.service, self.identity = mask, service, identity

    def message(self, record: logging.LogRecord) -> str:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: say so rather than lose the event
            text = f"{record.msg!r} (unformattable log arguments)"
        # The SDK's loggers append their context dict to the message; it is in our fields instead.
        text = re.sub(r" \(\{'(?:activity_id|attempt|namespace|workflow_id|run_id)'.*\}\)$", "", text)
        return self.mask(text)

    def exception(self, record: logging.LogRecord) -> str | None:
        if record.exc_info:
            return self.mask(self.formatException(record.exc_info))
        return None


class JsonFormatter(_Formatter):
    """One JSON object per line, fixed keys, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.message(record),
            "service": self.service,
            "worker": self.identity,
            **temporal_context(record),
        }
        if (exc := self.exception(record)) is not None:
            line["exc"] = exc
        return json.dumps(line, default=str)


class TextFormatter(_Formatter):
    """`time level logger: message [workflow_id=... activity=...]`, secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        context = " ".join(f"{key}={value}" for key, value in temporal_context(record).items())
        text = f"{stamp} {record.levelname} {record.name}: {self.message(record)}"
        if context:
            text += f" [{context}]"
        if (exc := self.exception(record)) is not None:
            text += "\n" + exc
        return text


def configure_logging(settings: Settings, *, service: str, stream: Any = None) -> logging.Handler:
    """Send every log record of this process to `stream` (stderr) as INTAKE_LOG_FORMAT says.

    Replaces the root logger's handlers (so calling it twice does not double the lines) and
    returns the handler.
    """
    identity = worker_identity()
    mask = SecretMasker(secrets_of(settings))
    formatter_class = JsonFormatter if settings.log_format == "json" else TextFormatter
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter_class(mask, service, identity))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
