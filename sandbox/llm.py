"""An OpenAI-compatible chat-completions endpoint that "analyses" a thread deterministically.

``POST /v1/chat/completions`` (mounted at ``/openai``) reads the last user
message, finds sentences that ask or promise something and answers, as JSON
content, the discussion analysis the product asks for: summary, key points,
sentiment, confidence, domain, action items and up to five tasks. The same
text always gives the same answer. Errors use OpenAI's ``{"error": {...}}``.
"""

from __future__ import annotations

import functools
import json
import re
import string
from typing import Any

from aiohttp import web

from sandbox.core import MALFORMED, Endpoint, Service, bearer_token, json_response

MAX_TASKS = 5
ALPHANUMERIC = string.ascii_letters + string.digits  # a completion id's characters after "chatcmpl-"
SPEAKER = re.compile(r"^\s*(?:[-*]\s*)?(?:\[[^\]]*\]\s*)?(?P<name>[A-Za-z][\w.' -]{0,40}?)\s*:\s+(?P<text>.+)$")
ASK = re.compile(
    r"^(?:(?P<who>@?[A-Z][a-z]+),\s+)?(?:please\b|can you\b|could you\b|would you\b|will you\b|"
    r"can someone\b|could someone\b|can anyone\b|can we\b|could we\b|let'?s\b)",
    re.IGNORECASE,
)
PROMISE = re.compile(r"\b(?:I'll|I will|we'll|we will|let me|I'm going to|I am going to)\b", re.IGNORECASE)
LEAD_IN = re.compile(
    r"^(?:@?[A-Z][a-z]+,\s+)?(?:please|can you|could you|would you|will you|can someone|could someone|"
    r"can anyone|can we|could we|let'?s|I'll|I will|we'll|we will|let me|I'm going to|I am going to)\s+(?:also\s+)?",
    re.IGNORECASE,
)
ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
MENTION = re.compile(r"@([A-Za-z][\w.-]+)")

DOMAINS = {
    "billing": ("payment", "checkout", "invoice", "refund", "billing", "sepa", "charge"),
    "design": ("design", "figma", "colour", "color", "palette", "image", "asset", "dark mode", "mockup"),
    "engineering": ("deploy", "database", "timeout", "retry", "server", "api", "bug", "header", "staging"),
    "support": ("customer", "support", "status page", "ticket"),
}
TYPES = (
    ("bug", ("bug", "broken", "fails", "error", "times out", "timeout", "blurry", "leak")),
    ("design", ("design", "export", "asset", "mockup", "figma", "dark mode")),
    ("documentation", ("notes", "email", "status page", "docs", "write")),
    ("feature", ("add", "support", "build", "implement", "migrate")),
)
NEGATIVE = ("broken", "fails", "times out", "blurry", "charged twice", "angry", "frustrated", "urgent", "down")
POSITIVE = ("thanks", "great", "love", "excellent", "nice", "well")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _lines(prompt: str) -> list[tuple[str | None, str]]:
    """(speaker, text) per line of the prompt; speaker None when the line names none."""
    out = []
    for line in prompt.splitlines():
        if not line.strip():
            continue
        match = SPEAKER.match(line)
        if match and len(match["name"].split()) <= 3:
            out.append((match["name"].strip(), match["text"].strip()))
        else:
            out.append((None, line.strip()))
    return out


def _first_match(text: str, table: tuple[tuple[str, tuple[str, ...]], ...] | dict[str, tuple[str, ...]]) -> str | None:
    lowered = text.lower()
    items = table.items() if isinstance(table, dict) else table
    return next((name for name, words in items if any(w in lowered for w in words)), None)


@functools.lru_cache(maxsize=1024)
def _analysis_json(prompt: str) -> str:
    """`analyse` as the JSON the model answers with; the same prompt gets the same answer, so a
    repeated thread (retries, load tests) is analysed once."""
    return json.dumps(analyse(prompt))


def analyse(prompt: str) -> dict[str, Any]:
    """The deterministic analysis of a thread given as ``Speaker: text`` lines (other lines count too)."""
    lines = _lines(prompt)
    spoken = [(who, text) for who, text in lines if who is not None] or lines
    all_text = " ".join(text for _, text in spoken)
    action_items: list[dict[str, Any]] = []
    for speaker, text in spoken:
        for sentence in _sentences(text):
            ask = ASK.match(sentence)
            is_question = sentence.endswith("?")
            promise = PROMISE.search(sentence)
            if not (ask or promise or is_question):
                continue
            mention = MENTION.search(sentence)
            if promise and not ask:
                assignee = speaker
            elif ask and ask["who"]:
                assignee = ask["who"].lstrip("@")
            else:
                assignee = mention[1] if mention else None
            action_items.append({"sentence": sentence, "speaker": speaker, "assignee": assignee})
    tasks = []
    for item in action_items[:MAX_TASKS]:
        sentence = item["sentence"]
        core = LEAD_IN.sub("", sentence).rstrip("?.! ")
        title = (core[:1].upper() + core[1:])[:80] if core else sentence[:80]
        due = ISO_DATE.search(sentence)
        urgent = any(w in sentence.lower() or w in all_text.lower() for w in ("urgent", "asap", "blocker"))
        domain = _first_match(sentence, DOMAINS) or _first_match(all_text, DOMAINS)
        tasks.append(
            {
                "title": title,
                "description": f'{item["speaker"] or "Someone"} said: "{sentence}"',
                "action_items": [title],
                "priority": "urgent"
                if urgent and "urgent" in sentence.lower()
                else ("high" if urgent or due else "medium"),
                "type": _first_match(sentence, TYPES) or ("question" if sentence.endswith("?") else "task"),
                "assignee": item["assignee"],
                "due_date": due[1] if due else None,
                "tags": sorted({t for t in (domain, "from-thread") if t}),
                "domain": domain,
            }
        )
    first = _sentences(spoken[0][1])[0] if spoken else ""
    negatives = sum(all_text.lower().count(w) for w in NEGATIVE)
    positives = sum(all_text.lower().count(w) for w in POSITIVE)
    sentiment = "negative" if negatives > positives else "positive" if positives > negatives else "neutral"
    key_points = []
    for _, text in spoken:
        sentence = _sentences(text)[0]
        if sentence not in key_points:
            key_points.append(sentence)
        if len(key_points) == 3:
            break
    return {
        "summary": (
            f"{first} ({len(spoken)} messages, {len(action_items)} action item{'' if len(action_items) == 1 else 's'})"
        ),
        "key_points": key_points,
        "sentiment": sentiment,
        "confidence": round(min(0.95, 0.6 + 0.05 * len(action_items)), 2) if action_items else 0.5,
        "domain": _first_match(all_text, DOMAINS),
        "action_items": [i["sentence"] for i in action_items],
        "tasks": tasks,
        "is_multi_task": len(tasks) > 1,
    }


class LlmService(Service):
    name = "llm"
    has_quota = True
    is_llm = True

    def reset(self) -> None:
        self.created = {}

    def token(self, request: web.Request) -> str | None:
        return bearer_token(request)

    @staticmethod
    def _error(
        status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status, headers=headers
        )

    def rejected(self) -> web.Response:
        return self._error(400, "Invalid request.", "invalid_request_error", None)

    def server_error(self) -> web.Response:
        return self._error(
            500, "The server had an error while processing your request. Sorry about that!", "server_error", None
        )

    def rate_limited(self, retry_after: int) -> web.Response:
        return self._error(
            429,
            "Rate limit reached for requests per min (RPM). Please try again later.",
            "requests",
            "rate_limit_exceeded",
            headers={"Retry-After": str(retry_after), "x-ratelimit-reset-requests": f"{retry_after}s"},
        )

    def quota_exhausted(self) -> web.Response:
        return self._error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )

    def unauthorized(self) -> web.Response:
        return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("POST", "/v1/chat/completions", "chat.completions.create", self.complete)]

    async def complete(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return self._error(400, "'messages' must be a non-empty array.", "invalid_request_error", None)
        if not body.get("model"):
            return self._error(400, "you must provide a model parameter", "invalid_request_error", None)
        user_text = next(
            (m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None
        )
        if not isinstance(user_text, str):
            return self._error(400, "the last user message must have text content", "invalid_request_error", None)
        if request.get(MALFORMED):
            content = "Sure! Here is the analysis you asked for: the thread discusses several things."
        else:
            content = _analysis_json(user_text)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        completion_tokens = len(content.split())
        return json_response(
            {
                "id": f"chatcmpl-{self.ids.unique_chars(ALPHANUMERIC, 29)}",
                "object": "chat.completion",
                "created": self.ids.tick() // 1_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "system_fingerprint": "fp_sandbox",
            }
        )
