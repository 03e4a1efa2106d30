"""LLM client (openai SDK) against the sandbox's chat-completions endpoint over real HTTP."""

from __future__ import annotations

from datetime import date

import pytest

from core.settings import Settings
from integrations.errors import (
    AuthenticationError,
    MalformedResponseError,
    QuotaExceededError,
    RateLimitedError,
    RetryableIntegrationError,
)
from integrations.llm import LlmClient, ThreadLine, parse_analysis
from integrations.slack import SlackClient
from sandbox.control import SandboxControl

CHECKOUT = [
    ThreadLine(author="alice", text="Customers in the EU report that checkout times out when they pay with SEPA."),
    ThreadLine(author="bob", text="I can reproduce it: the payment provider call takes about 30 seconds."),
    ThreadLine(author="alice", text="Bob, can you add a timeout and a retry to the provider call by 2024-06-21?"),
    ThreadLine(author="carol", text="Thanks."),
]


@pytest.fixture
async def llm(sandbox_settings: Settings):
    client = LlmClient.from_settings(sandbox_settings)
    yield client
    await client.aclose()


async def test_analysis_finds_the_request_with_assignee_and_due_date(llm: LlmClient) -> None:
    analysis = await llm.analyse_thread(CHECKOUT)
    assert analysis.summary.startswith("Customers in the EU report")
    [task] = analysis.tasks
    assert task.title.startswith("Add a timeout and a retry")
    assert task.assignee == "Bob"
    assert task.due_date == date(2024, 6, 21)
    assert task.priority in ("high", "urgent")
    assert analysis.is_multi_task is False
    assert analysis.domain == "billing"


async def test_analysis_is_deterministic(llm: LlmClient) -> None:
    assert await llm.analyse_thread(CHECKOUT) == await llm.analyse_thread(CHECKOUT)


async def test_a_thread_without_asks_or_promises_has_no_tasks(llm: LlmClient) -> None:
    analysis = await llm.analyse_thread(
        [ThreadLine(author="carol", text="Lunch was great today."), ThreadLine(author="dana", text="Agreed.")]
    )
    assert analysis.tasks == [] and analysis.action_items == []


async def test_seeded_slack_thread_yields_several_tasks(llm: LlmClient, sandbox_settings: Settings) -> None:
    slack = SlackClient.from_settings(sandbox_settings)
    try:
        thread = await slack.fetch_thread("C0PRODUCT", "1718010000.000100")
    finally:
        await slack.aclose()
    analysis = await llm.analyse_thread([ThreadLine(author=m.user or "?", text=m.text) for m in thread.messages])
    assert 2 <= len(analysis.tasks) <= 5
    assert analysis.is_multi_task
    promised = [t for t in analysis.tasks if t.assignee == "U0BOB"]
    assert promised and promised[0].title.startswith("Ship a fix")


async def test_malformed_answer_is_a_retryable_error(llm: LlmClient, control: SandboxControl) -> None:
    await control.set_fault("llm", "chat.completions.create", malformed_rate=1.0, times=1)
    with pytest.raises(MalformedResponseError) as caught:
        await llm.analyse_thread(CHECKOUT)
    assert caught.value.kind == "retryable"
    assert (await llm.analyse_thread(CHECKOUT)).tasks  # next answer is fine


def test_json_missing_the_summary_is_malformed() -> None:
    with pytest.raises(MalformedResponseError, match="summary"):
        parse_analysis('{"tasks": []}')
    with pytest.raises(MalformedResponseError, match="not an object"):
        parse_analysis("[1, 2]")


def test_unsure_fields_become_null_and_tasks_are_capped() -> None:
    tasks = [{"title": f"T{n}", "priority": "whenever", "due_date": "next Friday"} for n in range(7)]
    analysis = parse_analysis('{"summary": "s", "tasks": ' + str(tasks).replace("'", '"') + "}")
    assert len(analysis.tasks) == 5 and analysis.is_multi_task
    assert analysis.tasks[0].priority is None and analysis.tasks[0].due_date is None


async def test_rate_limit_quota_server_error_and_bad_key(llm: LlmClient, control: SandboxControl) -> None:
    await control.set_fault("llm", "*", rate_limit_rate=1.0, retry_after=9, times=1)
    with pytest.raises(RateLimitedError) as limited:
        await llm.analyse_thread(CHECKOUT)
    assert limited.value.retry_after == 9
    await control.set_fault("llm", "*", quota_rate=1.0, times=1)
    with pytest.raises(QuotaExceededError) as quota:
        await llm.analyse_thread(CHECKOUT)
    assert quota.value.code == "insufficient_quota"
    await control.set_fault("llm", "*", error_rate=1.0, times=1)
    with pytest.raises(RetryableIntegrationError):
        await llm.analyse_thread(CHECKOUT)
    await control.revoke_token("llm", "sk-sandbox")
    with pytest.raises(AuthenticationError):
        await llm.analyse_thread(CHECKOUT)


async def test_slow_answer_times_out_as_retryable(llm: LlmClient, control: SandboxControl) -> None:
    await control.set_fault("llm", "*", latency_ms=5000)
    with pytest.raises(RetryableIntegrationError, match="no answer"):
        await llm.analyse_thread(CHECKOUT)
