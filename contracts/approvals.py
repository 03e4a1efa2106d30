"""The approval pipeline's contract: a user decides a proposed action; a tool call is queued.

`ProposedActionWorkflow` (id `proposed_action_workflow_id`) serves the Updates `approve`,
`reject` and `feedback`; `QueueToolCallWorkflow` (id `tool_call_workflow_id`) queues a
work item with its proposed action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

ActionType = Literal["draft_reply", "schedule_event", "refund_request"]
Rating = Literal["positive", "negative"]
DRAFT_ACTIONS = ("draft_reply", "refund_request")  # the others schedule an event


class DraftPayload(BaseModel):
    """What a draft reply (or refund request) action proposes: the Gmail draft to make."""

    to: str = Field(min_length=3)
    subject: str
    body: str
    thread_id: str | None = None


class EventPayload(BaseModel):
    """What a schedule-event action proposes: the Calendar event to make."""

    summary: str = Field(min_length=1)
    start: datetime
    end: datetime
    attendees: list[str] = []
    description: str = ""

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> EventPayload:
        if self.end <= self.start:
            raise ValueError(f"the event ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")
        return self


def payload_model(action_type: str) -> type[DraftPayload] | type[EventPayload]:
    """The payload an action of `action_type` carries."""
    return DraftPayload if action_type in DRAFT_ACTIONS else EventPayload


def proposed_action_workflow_id(action_id: str) -> str:
    """One workflow id per action, so every decision on it reaches the same run."""
    return f"action/{action_id}"


def tool_call_workflow_id(user_id: str, call_id: str) -> str:
    """One id per tool call: the same call queued twice is the same run."""
    return f"tool-call/{user_id}/{call_id}"


# -- the workflows and their Updates --------------------------------------------------------


class ProposedActionInput(BaseModel):
    action_id: str
    user_id: str


class ProposedActionResult(BaseModel):
    action_id: str
    decisions: int


class ApproveActionInput(BaseModel):
    approved_by: str = "user"
    # The user's edits (e.g. the draft's body) replace the proposed payload's fields.
    payload_override: dict[str, Any] | None = None


class RejectActionInput(BaseModel):
    rejected_by: str = "user"
    note: str | None = None


class GiveFeedbackInput(BaseModel):
    rating: Rating
    note: str | None = None
    given_by: str = "user"


class DecideActionResult(BaseModel):
    """The answer to approve / reject; the same every time it is asked again."""

    action_id: str
    work_item_id: str
    action_type: str
    status: Literal["executed", "dismissed"]
    provider_id: str | None = None
    html_link: str | None = None
    decided_at: datetime


class QueueToolCallInput(BaseModel):
    user_id: str = Field(min_length=1)
    call_id: str = Field(min_length=1)
    action_type: ActionType
    payload: dict[str, Any]
    summary: str = Field(min_length=1)
    context: str = ""


class QueueToolCallResult(BaseModel):
    work_item_id: str
    action_id: str
    created: bool


# -- the activities -------------------------------------------------------------------------


class CreateAtProviderInput(BaseModel):
    action_id: str
    payload_override: dict[str, Any] | None = None


class CreateAtProviderResult(BaseModel):
    """What the provider holds for the action (or, when already executed, the stored result)."""

    already_executed: bool
    payload: dict[str, Any]
    provider_id: str | None = None
    provider_message_id: str | None = None
    thread_id: str | None = None
    html_link: str | None = None


class CompleteApprovalInput(BaseModel):
    action_id: str
    provider: CreateAtProviderResult
    approved_by: str
    workflow_id: str
    workflow_run_id: str


class DismissActionInput(BaseModel):
    action_id: str
    note: str | None = None
    rejected_by: str
    workflow_id: str
    workflow_run_id: str


class RecordFeedbackInput(BaseModel):
    action_id: str
    rating: Rating
    note: str | None = None
    given_by: str
    workflow_id: str
    workflow_run_id: str


class RecordFeedbackResult(BaseModel):
    work_item_id: str
    rating: str


class RecordToolCallInput(BaseModel):
    user_id: str
    call_id: str
    action_type: ActionType
    payload: dict[str, Any]
    summary: str
    context: str = ""
    importance_tier: Literal["critical", "important", "later"] = "important"
    importance_score: int = 50
    workflow_id: str
    workflow_run_id: str


class RecordToolCallResult(BaseModel):
    work_item_id: str
    action_id: str
    created: bool
