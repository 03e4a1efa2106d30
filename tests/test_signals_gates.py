"""Gates are a pure function of the signal, the user's rules and `now` (no clock of their own)."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.gates import GateConfig, Signal, UserRules, assess
from db.models.signals import DEFAULT_GATE_CONFIG


def test_a_meeting_request_without_a_date_is_proposed_for_the_day_after_now() -> None:
    rules = UserRules(mailbox="alice@example.com", config=GateConfig.model_validate(DEFAULT_GATE_CONFIG))
    signal = Signal(
        source="gmail",
        source_id="m1",
        actor="Tom Reyes <tom@example.com>",
        title="Can we schedule a call?",
        body="Any time works.",
    )  # no occurred_at
    now = datetime(2021, 3, 4, 9, 30, tzinfo=UTC)

    assessment = assess(signal, rules, now)

    assert assessment.intent == "schedule_event"
    assert assessment.action_payload["start"] == "2021-03-05T15:00:00+00:00"
    assert assess(signal, rules, now) == assessment  # the same input, the same answer
