"""The LLM: analyse a discussion thread into a summary, action items and up to five tasks.

Built on ``openai``'s ``AsyncOpenAI`` (any OpenAI-compatible endpoint) with its
own retries off: Temporal owns retries. The prompt and the parsing live here;
an answer that is not the JSON asked for raises
:class:`MalformedResponseError`, which is retryable (models do recover).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, Field, ValidationError, field_validator

from core.settings import Settings
from integrations.errors import (
    IntegrationError,
    MalformedResponseError,
    RetryableIntegrationError,
    classify_status,
    parse_retry_after,
)
from integrations.http import async_http_client

MAX_TASKS = 5
Priority = Literal["low", "medium", "high", "urgent"]
Sentiment = Literal["positive", "neutral", "negative"]

SYSTEM_PROMPT = """You analyse a team discussion thread and turn it into actionable tasks.
The user message is the thread, one message per line as "Author: text".
Answer with ONE JSON object and nothing else, with exactly these keys:
  "summary": string, two sentences at most;
  "key_points": array of strings;
  "sentiment": "positive" | "neutral" | "negative";
  "confidence": number between 0 and 1;
  "domain": string or null (e.g. "billing", "design", "engineering", "support");
  "action_items": array of strings, every sentence that asks for or promises an action;
  "tasks": array of at most 5 objects with keys
      "title" (string, imperative, at most 80 characters), "description" (string),
      "action_items" (array of strings), "priority" ("low"|"medium"|"high"|"urgent" or null),
      "type" (string or null), "assignee" (string or null), "due_date" ("YYYY-MM-DD" or null),
      "tags" (array of strings), "domain" (string or null);
  "is_multi_task": boolean, true when there is more than one task.
Use null whenever you are unsure. Do not invent people or dates."""


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """One message of a thread as the model sees it (a plain dataclass: threads run to hundreds)."""

    author: str
    text: str


class DetectedTask(BaseModel):
    title: str = Field(min_length=1)
    description: str = ""
    action_items: list[str] = Field(default_factory=list)
    priority: Priority | None = None
    type: str | None = None
    assignee: str | None = None
    due_date: date | None = None
    tags: list[str] = Field(default_factory=list)
    domain: str | None = None

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        """Unknown priorities become null (unsure), not an error."""
        if isinstance(value, str) and value.lower() in ("low", "medium", "high", "urgent"):
            return value.lower()
        return None

    @field_validator("due_date", mode="before")
    @classmethod
    def _due(cls, value: Any) -> Any:
        """A due date the model wrote in another form becomes null (unsure)."""
        if isinstance(value, str):
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return None
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return value.strip()[:200]


class ThreadAnalysis(BaseModel):
    summary: str
    key_points: list[str] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    confidence: float | None = Field(None, ge=0, le=1)
    domain: str | None = None
    action_items: list[str] = Field(default_factory=list)
    tasks: list[DetectedTask] = Field(default_factory=list)
    is_multi_task: bool = False

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("positive", "neutral", "negative"):
            return value.lower()
        return None

    @field_validator("tasks")
    @classmethod
    def _at_most_five(cls, tasks: list[DetectedTask]) -> list[DetectedTask]:
        return tasks[:MAX_TASKS]


class LlmApi(Protocol):
    """What the discussion pipeline's AI stage needs."""

    async def analyse_thread(self, lines: list[ThreadLine]) -> ThreadAnalysis: ...

    async def aclose(self) -> None: ...


def thread_prompt(lines: list[ThreadLine]) -> str:
    """The user message: one ``Author: text`` line per message (newlines inside a message flattened)."""
    return "\n".join(f"{line.author.replace(':', ' ')}: {' '.join(line.text.split())}" for line in lines)


def parse_analysis(content: str | None) -> ThreadAnalysis:
    """The model's answer as a :class:`ThreadAnalysis`; :class:`MalformedResponseError` if it is not one."""
    if not content:
        raise MalformedResponseError(
            "the model answered no content", service="llm", operation="chat.completions.create"
        )
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise MalformedResponseError(
            f"the model's answer is not JSON: {content[:120]!r}", service="llm", operation="chat.completions.create"
        ) from exc
    if not isinstance(data, dict):
        raise MalformedResponseError(
            "the model's answer is JSON but not an object", service="llm", operation="chat.completions.create"
        )
    try:
        analysis = ThreadAnalysis.model_validate(data)
    except ValidationError as exc:
        raise MalformedResponseError(
            f"the model's JSON lacks or mistypes fields: {exc.errors(include_url=False)}",
            service="llm",
            operation="chat.completions.create",
        ) from exc
    analysis.is_multi_task = len(analysis.tasks) > 1
    return analysis


class LlmClient:
    """:class:`LlmApi` on the official ``openai`` SDK, chat completions with a JSON response format."""

    def __init__(self, *, api_key: str, base_url: str, model: str, timeout: float = 60.0) -> None:
        # openai 3 annotates http_client as an httpx2.AsyncClient only, but it also takes an
        # httpx.AsyncClient (it checks for either), and that is what runs on aiohttp's pool.
        self._sdk = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=async_http_client(timeout=timeout),  # type: ignore[arg-type]
        )
        self._model = model

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmClient:
        return cls(
            api_key=settings.llm_api_key.get_secret_value(),
            base_url=settings.service_base_url("llm"),
            model=settings.llm_model,
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        await self._sdk.close()

    async def analyse_thread(self, lines: list[ThreadLine]) -> ThreadAnalysis:
        if not lines:
            raise ValueError("a thread to analyse needs at least one message")
        operation = "chat.completions.create"
        try:
            completion = await self._sdk.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": thread_prompt(lines)},
                ],
                response_format={"type": "json_object"},
                temperature=0,
            )
        except openai.APIStatusError as exc:
            raise _map_openai_error(operation, exc) from exc
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableIntegrationError(
                f"no answer from the LLM: {type(exc).__name__}: {exc}", service="llm", operation=operation
            ) from exc
        if not completion.choices:
            raise MalformedResponseError("the model answered no choices", service="llm", operation=operation)
        return parse_analysis(completion.choices[0].message.content)


def _map_openai_error(operation: str, exc: openai.APIStatusError) -> IntegrationError:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    code = (error.get("code") or error.get("type")) if isinstance(error, dict) else None
    return classify_status(
        str(error.get("message") if isinstance(error, dict) and error.get("message") else exc.message),
        service="llm",
        operation=operation,
        status=exc.status_code,
        code=str(code) if code else None,
        retry_after=parse_retry_after(exc.response.headers.get("retry-after")),
    )
