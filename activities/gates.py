"""Gates: simple, data-driven rules that decide whether a signal needs the user.

Five gates look at a signal: decision (it asks for one), time (a deadline within
`deadline_hours`), relationship (the sender's score reaches `relationship_min`),
impact (its weightiest term reaches `impact_min`) and watch (one of the user's
watched words). Every threshold, phrase and weight comes from the user's
`GateConfig` (stored per user in `signal_users`), not from this module.

A signal needs action when any gate but relationship passes: who sent it makes
a signal more important, not actionable by itself. The intent picks the
proposed action: a refund request or a draft reply (a Gmail draft), or an event
(a Calendar event: the meeting asked for, or time to prepare for an event).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr
from typing import Any, Literal

from pydantic import BaseModel, Field

Gate = Literal["decision", "time", "relationship", "impact", "watch"]
Intent = Literal["draft_reply", "schedule_event", "refund_request"]
Tier = Literal["critical", "important", "later"]

# Descriptions carry this, so events that approvals made are not ingested back as signals.
INTAKE_EVENT_MARKER = "[created by intake]"

_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_SOON_WORDS = {"today": 0, "tonight": 0, "asap": 0, "eod": 0, "tomorrow": 1}


class GateConfig(BaseModel):
    """One user's gate rules: thresholds, phrases and weights (signal_users.gate_config)."""

    deadline_hours: float = Field(gt=0)
    relationship_min: float = Field(ge=0, le=1)
    impact_min: float = Field(ge=0, le=1)
    colleague_score: float = Field(ge=0, le=1)
    default_sender_score: float = Field(ge=0, le=1)
    tiers: dict[Literal["critical", "important"], int]
    decision_phrases: list[str]
    meeting_phrases: list[str]
    refund_phrases: list[str]
    impact_terms: dict[str, float]


class UserRules(BaseModel):
    """Everything gates need to know about the user."""

    mailbox: str
    watch_keywords: list[str] = []
    sender_scores: dict[str, float] = {}
    config: GateConfig


class Signal(BaseModel):
    """A Gmail message or a Calendar event, reduced to what gates and work items need."""

    source: Literal["gmail", "calendar"]
    source_id: str
    thread_id: str | None = None
    actor: str  # the sender, or the event's organizer
    title: str
    body: str
    occurred_at: datetime | None = None
    starts_at: datetime | None = None  # calendar events
    ends_at: datetime | None = None
    attendees: list[str] = []

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}"

    def content_hash(self) -> str:
        """Changes exactly when the signal's content does: an unchanged signal is not rewritten."""
        data = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class GateResult(BaseModel):
    gate: Gate
    passed: bool
    score: int = Field(ge=0, le=10)
    reason: str


class Assessment(BaseModel):
    """The gates' verdicts and what follows from them."""

    gates: list[GateResult]
    needs_action: bool
    intent: Intent
    importance_score: int = Field(ge=0, le=100)
    importance_tier: Tier
    action_payload: dict[str, Any]


def assess(signal: Signal, rules: UserRules, now: datetime) -> Assessment:
    """Run the five gates over `signal` and propose an action."""
    text = signal.text.lower()
    config = rules.config
    gates = [
        _decision(text, config),
        _time(signal, text, config, now),
        _relationship(signal.actor, rules),
        _impact(text, config),
        _watch(text, rules.watch_keywords),
    ]
    needs_action = any(g.passed for g in gates if g.gate != "relationship")
    importance = min(100, round(sum(g.score for g in gates if g.passed) * 100 / 25))
    tier: Tier = (
        "critical"
        if importance >= config.tiers["critical"]
        else "important"
        if importance >= config.tiers["important"]
        else "later"
    )
    intent = _intent(signal, text, config)
    return Assessment(
        gates=gates,
        needs_action=needs_action,
        intent=intent,
        importance_score=importance,
        importance_tier=tier,
        action_payload=_payload(signal, intent, rules.mailbox, now),
    )


def _found(text: str, phrases: list[str]) -> str | None:
    return next((p for p in phrases if p.lower() in text), None)


def _decision(text: str, config: GateConfig) -> GateResult:
    phrase = _found(text, [p for p in config.decision_phrases if p != "?"])
    if phrase is not None:
        return GateResult(gate="decision", passed=True, score=8, reason=f"asks for a decision: {phrase!r}")
    if "?" in config.decision_phrases and "?" in text:
        return GateResult(gate="decision", passed=True, score=5, reason="asks a direct question")
    return GateResult(gate="decision", passed=False, score=0, reason="no question or decision asked")


def _time(signal: Signal, text: str, config: GateConfig, now: datetime) -> GateResult:
    window = timedelta(hours=config.deadline_hours)
    due, what = signal.starts_at, "starts"
    if due is None:
        due, what = _deadline_in(text, now), "deadline"
    if due is None:
        return GateResult(gate="time", passed=False, score=0, reason="no deadline found")
    left = due - now
    if left < timedelta(0):
        return GateResult(gate="time", passed=False, score=0, reason=f"{what} {due:%Y-%m-%d %H:%M} has passed")
    if left > window:
        return GateResult(
            gate="time",
            passed=False,
            score=2,
            reason=f"{what} {due:%Y-%m-%d %H:%M}, beyond {config.deadline_hours:g} h",
        )
    score = 10 if left <= window / 4 else 8
    return GateResult(
        gate="time", passed=True, score=score, reason=f"{what} {due:%Y-%m-%d %H:%M}, within {config.deadline_hours:g} h"
    )


def _deadline_in(text: str, now: datetime) -> datetime | None:
    """The earliest deadline the text names: a YYYY-MM-DD date (end of day) or today / tomorrow."""
    found: list[datetime] = []
    for match in _ISO_DATE.finditer(text):
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        found.append(datetime.combine(day, time(23, 59), tzinfo=UTC))
    for word, days in _SOON_WORDS.items():
        if re.search(rf"\b{word}\b", text):
            found.append(datetime.combine(now.date() + timedelta(days=days), time(23, 59), tzinfo=UTC))
    return min(found) if found else None


def _relationship(actor: str, rules: UserRules) -> GateResult:
    address = parseaddr(actor)[1].lower() or actor.lower()
    domain = address.rpartition("@")[2]
    scores = {k.lower(): v for k, v in rules.sender_scores.items()}
    if address in scores:
        score, why = scores[address], "sender score"
    elif f"@{domain}" in scores:
        score, why = scores[f"@{domain}"], f"score of @{domain}"
    elif domain and domain == rules.mailbox.rpartition("@")[2].lower():
        score, why = rules.config.colleague_score, "a colleague"
    else:
        score, why = rules.config.default_sender_score, "unknown sender"
    passed = score >= rules.config.relationship_min
    return GateResult(
        gate="relationship", passed=passed, score=round(score * 10), reason=f"{address or 'nobody'}: {why} {score:.2f}"
    )


def _impact(text: str, config: GateConfig) -> GateResult:
    hits = {term: weight for term, weight in config.impact_terms.items() if term.lower() in text}
    if not hits:
        return GateResult(gate="impact", passed=False, score=0, reason="no high-impact terms")
    term, weight = max(hits.items(), key=lambda item: item[1])
    return GateResult(
        gate="impact",
        passed=weight >= config.impact_min,
        score=round(weight * 10),
        reason=f"mentions {term!r} (impact {weight:.2f})",
    )


def _watch(text: str, keywords: list[str]) -> GateResult:
    word = _found(text, keywords)
    if word is None:
        return GateResult(gate="watch", passed=False, score=0, reason="no watched keyword")
    return GateResult(gate="watch", passed=True, score=9, reason=f"watched keyword {word!r}")


def _intent(signal: Signal, text: str, config: GateConfig) -> Intent:
    if signal.source == "calendar":
        return "schedule_event"
    if _found(text, config.refund_phrases):
        return "refund_request"
    if _found(text, config.meeting_phrases):
        return "schedule_event"
    return "draft_reply"


def _payload(signal: Signal, intent: Intent, mailbox: str, now: datetime) -> dict[str, Any]:
    """The proposed action's payload: a draft (to, subject, body) or an event (summary, times)."""
    name = parseaddr(signal.actor)[0] or parseaddr(signal.actor)[1] or "there"
    if intent == "schedule_event":
        if signal.starts_at is not None:  # time to prepare, the half hour before the event
            start, end = signal.starts_at - timedelta(minutes=30), signal.starts_at
            summary, attendees = f"Prepare: {signal.title}", [mailbox]
        else:  # the meeting asked for: the next day at 15:00 UTC, 30 minutes
            day = (signal.occurred_at or now).date() + timedelta(days=1)
            start = datetime.combine(day, time(15, 0), tzinfo=UTC)
            end = start + timedelta(minutes=30)
            summary = signal.title.removeprefix("Re: ")
            attendees = [mailbox, parseaddr(signal.actor)[1]]
        return {
            "summary": summary,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "attendees": [a for a in attendees if a],
            "description": f"{signal.body[:500]}\n\n{INTAKE_EVENT_MARKER}",
        }
    first = name.split()[0]
    body = (
        f"Hi {first},\n\nThanks for flagging this; I am looking into the refund and will confirm "
        "once it is processed.\n"
        if intent == "refund_request"
        else f"Hi {first},\n\nThanks for your message. I will get back to you shortly.\n"
    )
    subject = signal.title if signal.title.lower().startswith("re:") else f"Re: {signal.title}"
    return {
        "to": parseaddr(signal.actor)[1] or signal.actor,
        "subject": subject,
        "body": body,
        "thread_id": signal.thread_id,
    }
