"""Log lines (telemetry/logs.py): one per event, JSON when asked, with the run and activity they
belong to, and never a secret of the settings or anything that looks like a credential."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from core.settings import Settings
from telemetry.logs import configure_logging, worker_identity


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's handlers, restored after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def json_settings(**values: Any) -> Settings:
    return Settings(
        log_format="json",
        database_url="postgresql://intake:s3cr3t-pw@db.internal:5432/intake",
        slack_bot_token="xoxb-1234-real-token",
        notion_token="secret_notion_abc",
        temporal_api_key="tcld-api-key-xyz",
        **values,
    )


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_fixed_keys_and_no_extra_fields(captured: io.StringIO) -> None:
    configure_logging(json_settings(), service="intake-worker", stream=captured)
    logging.getLogger("intake.test").info("job %s done", "j-1", extra={"body": "Dear Alice, the door"})
    [line] = lines(captured)
    assert line["message"] == "job j-1 done" and line["level"] == "info" and line["logger"] == "intake.test"
    assert line["service"] == "intake-worker" and line["worker"] == worker_identity()
    assert "body" not in line and "Dear Alice" not in captured.getvalue()


def test_secrets_are_masked_in_messages_and_tracebacks(captured: io.StringIO) -> None:
    configure_logging(json_settings(), service="intake-api", stream=captured)
    log = logging.getLogger("intake.test")
    log.warning("connecting with %s and %s", "xoxb-1234-real-token", "tcld-api-key-xyz")
    log.warning("url postgresql://intake:s3cr3t-pw@db.internal:5432/intake, header Bearer abc.def")
    log.warning("unknown token xoxp-99-other, query ?api_key=k1&token=t2")
    try:
        raise RuntimeError("notion said no to secret_notion_abc")
    except RuntimeError:
        log.exception("call failed")
    text = captured.getvalue()
    for secret in ("xoxb-1234-real-token", "tcld-api-key-xyz", "s3cr3t-pw", "abc.def", "xoxp-99", "secret_notion"):
        assert secret not in text, secret
    found = lines(captured)
    assert found[0]["message"] == "connecting with *** and ***"
    assert "postgresql://intake:***@db.internal" in found[1]["message"] and "Bearer ***" in found[1]["message"]
    assert "api_key=***&token=***" in found[2]["message"]
    assert "RuntimeError: notion said no to ***" in found[3]["exc"]
    assert len(text.splitlines()) == 4  # a traceback stays inside its one JSON line


async def test_an_activity_line_names_its_run_activity_and_attempt(captured: io.StringIO) -> None:
    configure_logging(json_settings(), service="intake-worker", stream=captured)

    @activity.defn(name="sample_activity")
    async def sample() -> str:
        logging.getLogger("intake.sample").info("plain logger inside an activity")
        activity.logger.info("the SDK's activity logger")
        return "ok"

    env = ActivityEnvironment()
    assert await env.run(sample) == "ok"
    found = lines(captured)
    assert [line["message"] for line in found] == ["plain logger inside an activity", "the SDK's activity logger"]
    for line in found:
        assert (line["workflow_id"], line["run_id"], line["activity"], line["activity_id"], line["attempt"]) == (
            env.info.workflow_id,
            env.info.workflow_run_id,
            env.info.activity_type,
            env.info.activity_id,
            env.info.attempt,
        )


def test_text_lines_carry_the_context_too(captured: io.StringIO) -> None:
    configure_logging(Settings(log_format="text", slack_bot_token="xoxb-77-x"), service="intake-cli", stream=captured)
    logging.getLogger("intake.test").info("token xoxb-77-x")
    assert captured.getvalue().rstrip().endswith("INFO intake.test: token ***")
