"""ProposedActionWorkflow: the user decides a proposed action through Temporal Updates.

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

QueueToolCallWorkflow queues a tool call (e.g. from an assistant) for approval.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from contracts.approvals import (
    ApproveActionInput,
    CompleteApprovalInput,
    CreateAtProviderInput,
    DecideActionResult,
    DismissActionInput,
    GiveFeedbackInput,
    ProposedActionInput,
    ProposedActionResult,
    QueueToolCallInput,
    QueueToolCallResult,
    RecordFeedbackInput,
    RecordFeedbackResult,
    RecordToolCallInput,
    RejectActionInput,
)
from workflows.policies import DB_WRITE, OUTSIDE_CALL
from workflows.search_attributes import USER_ID

with workflow.unsafe.imports_passed_through():
    from activities.approvals import ApprovalActivities


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
        workflow.upsert_search_attributes([USER_ID.value_set(input.user_id)])
        # Started together with its first Update: wait for it, then for any others to finish.
        await workflow.wait_condition(lambda: self._decisions > 0 and workflow.all_handlers_finished())
        return ProposedActionResult(action_id=input.action_id, decisions=self._decisions)

    @workflow.update
    async def approve(self, request: ApproveActionInput) -> DecideActionResult:
        async with self._lock:
            try:
                provider = await workflow.execute_activity_method(
                    ApprovalActivities.create_at_provider,
                    CreateAtProviderInput(action_id=self._action_id, payload_override=request.payload_override),
                    **OUTSIDE_CALL,
                )
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.complete_approval,
                    CompleteApprovalInput(
                        action_id=self._action_id,
                        provider=provider,
                        approved_by=request.approved_by,
                        workflow_id=info.workflow_id,
                        workflow_run_id=info.run_id,
                    ),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1

    @workflow.update
    async def reject(self, request: RejectActionInput) -> DecideActionResult:
        async with self._lock:
            try:
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.dismiss,
                    DismissActionInput(
                        action_id=self._action_id,
                        note=request.note,
                        rejected_by=request.rejected_by,
                        workflow_id=info.workflow_id,
                        workflow_run_id=info.run_id,
                    ),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1

    @workflow.update
    async def feedback(self, request: GiveFeedbackInput) -> RecordFeedbackResult:
        async with self._lock:
            try:
                info = workflow.info()
                return await workflow.execute_activity_method(
                    ApprovalActivities.record_feedback,
                    RecordFeedbackInput(
                        action_id=self._action_id,
                        **request.model_dump(),
                        workflow_id=info.workflow_id,
                        workflow_run_id=info.run_id,
                    ),
                    **DB_WRITE,
                )
            finally:
                self._decisions += 1


@workflow.defn
class QueueToolCallWorkflow:
    """A tool call (e.g. from an assistant) queued for approval: work item + action in one transaction."""

    @workflow.run
    async def run(self, input: QueueToolCallInput) -> QueueToolCallResult:
        workflow.upsert_search_attributes([USER_ID.value_set(input.user_id)])
        info = workflow.info()
        recorded = await workflow.execute_activity_method(
            ApprovalActivities.record_tool_call,
            RecordToolCallInput(**input.model_dump(), workflow_id=info.workflow_id, workflow_run_id=info.run_id),
            **DB_WRITE,
        )
        return QueueToolCallResult(**recorded.model_dump())
