"""ProposedActionWorkflow: the user decides a proposed action through Temporal Updates (seed 000).

The client sends an Update with start (`client/signals.py`): the workflow id is the action's,
`action/<action id>`, so a decision finds the run going for its action, or starts one. Each
run serves the decisions that reach it and ends once they are answered. Updates:

- `approve` (optional payload override): the Gmail draft or Calendar event is made at the
  provider, once; then one transaction records it all; the result comes back to the caller.
- `reject` (optional note): action and work item dismissed, negative feedback recorded.
- `feedback`: a positive / negative verdict with a note on the action's work item.

Decisions are served one at a time. Approving twice (in one run, or later in a new run)
answers with the first approval's stored result and makes nothing new: the activities read
the action's state, and the provider calls are keyed by the action id.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from activities.approvals import (
        ActionOutcome,
        ApprovalActivities,
        CompleteApprovalInput,
        FeedbackInput,
        FeedbackResult,
        ProviderInput,
        RejectInput,
    )
    from workflows.policies import DB_WRITE, OUTSIDE_CALL
    from workflows.search_attributes import USER_ID

def action_workflow_id(action_id: str) -> str:
    return f"action/{action_id}"


class ProposedActionInput(BaseModel):
    action_id: str
    user_id: str


class ProposedActionResult(BaseModel):
    action_id: str
    decisions: int


class ApproveRequest(BaseModel):
    approved_by: str = "user"
    # The user's edits (e.g. the draft's body) replace the proposed payload's fields.
    payload_override: dict[str, Any] | None = None


class RejectRequest(BaseModel):
    rejected_by: str = "user"
    note: str | None = None


class FeedbackRequest(BaseModel):
    rating: Literal["positive", "negative"]
    note: str | None = None
    given_by: str = "user"


@workflow.defn
class ProposedActionWorkflow:
    @workflow.init
    def __init__(self, input: ProposedActionInput) -> None:
        # The input is needed here: the first Update is served before `run` starts.
        self._action_id = input.action_id
        self._lock = asyncio.Lock()
        self._decisions = 0

    @workflow.run
    async def run(self, input: ProposedActionInput) -> ProposedActionResult:
        workflow.upsert_search_attributes(TypedSearchAttributes([SearchAttributePair(USER_ID, input.user_id)]))
        # Started together with its first Update: wait for it, then for any others to finish.
        await workflow.wait_condition(lambda: self._decisions > 0 and workflow.all_handlers_finished())
        return ProposedActionResult(action_id=input.action_id, decisions=self._decisions)

    @workflow.update
    async def approve(self, request: ApproveRequest) -> ActionOutcome:
        async with self._lock:
            try:
                provider = await workflow.execute_activity_method(
                    ApprovalActivities.create_at_provider,
                    ProviderInput(action_id=self._action_id, payload_override=request.payload_override),
                    **OUTSIDE_CALL,
                )
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.complete_approval,
                    CompleteApprovalInput(action_id=self._action_id, provider=provider,
                                          approved_by=request.approved_by, workflow_id=info.workflow_id,
                                          workflow_run_id=info.run_id),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1

    @workflow.update
    async def reject(self, request: RejectRequest) -> ActionOutcome:
        async with self._lock:
            try:
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.reject,
                    RejectInput(action_id=self._action_id, note=request.note, rejected_by=request.rejected_by,
                                workflow_id=info.workflow_id, workflow_run_id=info.run_id),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1

    @workflow.update
    async def feedback(self, request: FeedbackRequest) -> FeedbackResult:
        async with self._lock:
            try:
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.feedback,
                    FeedbackInput(action_id=self._action_id, **request.model_dump(),
                                  workflow_id=info.workflow_id, workflow_run_id=info.run_id),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1


