"""Signals and approvals: the approval queue, drafts, processed items, a work item and its run
timeline, the audit log; approve (with an optional payload override), reject with a note, feedback.

Decisions are Temporal Updates on the action's workflow (`client.signals`): approving twice
returns the first approval's result and makes nothing new at the provider.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from api.deps import CallerDep, ServicesDep
from api.routes.params import LIST_PROBLEMS, READ_PROBLEMS, WRITE_PROBLEMS, ListParams, Strict, json_body, temporal
from client import signals, views
from contracts.approvals import DecideActionResult, RecordFeedbackResult

router = APIRouter(tags=["approvals"])

NOTE = Field(None, max_length=4000, description="Why, in the user's words (kept with the feedback).")
USER = Field(None, min_length=1, max_length=64, description="Only this signal user's items.")


class UserFilter(ListParams):
    user: str | None = USER


class ProcessedFilters(ListParams):
    user: str | None = USER
    status: views.ProcessedStatus | None = None


class AuditFilters(ListParams):
    target_type: str | None = Field(None, min_length=1, max_length=100, description="e.g. `work_item`.")
    target_id: str | None = Field(None, min_length=1, max_length=200, description="e.g. a work item's id.")
    action: str | None = Field(None, min_length=1, max_length=100, description="e.g. `action.approved`.")


class ApproveRequest(Strict):
    payload: dict[str, Any] | None = Field(
        None,
        description="Fields replacing the proposed payload's (a draft's `to`, `subject`, `body`, `thread_id`; "
        "an event's `summary`, `start`, `end`, `attendees`, `description`), as the user edited them.",
    )


class RejectRequest(Strict):
    note: str | None = NOTE


class FeedbackRequest(Strict):
    rating: Literal["positive", "negative"]
    note: str | None = NOTE


@router.get(
    "/approvals/queue",
    response_model=views.QueuePage,
    summary="Work items awaiting approval, most important first",
    responses=LIST_PROBLEMS,
)
async def approval_queue(
    caller: CallerDep, services: ServicesDep, params: Annotated[UserFilter, Query()]
) -> views.QueuePage:
    return await views.approval_queue(
        services.sessions, team_id=caller.team_id, user_id=params.user, limit=params.limit, cursor=params.cursor
    )


@router.get(
    "/approvals/drafts",
    response_model=views.DraftPage,
    summary="Gmail drafts and Calendar events that approvals made, newest first",
    responses=LIST_PROBLEMS,
)
async def drafts(caller: CallerDep, services: ServicesDep, params: Annotated[UserFilter, Query()]) -> views.DraftPage:
    return await views.drafts(
        services.sessions, team_id=caller.team_id, user_id=params.user, limit=params.limit, cursor=params.cursor
    )


@router.get(
    "/approvals/processed",
    response_model=views.ProcessedPage,
    summary="Work items decided (completed or dismissed), most recent first",
    responses=LIST_PROBLEMS,
)
async def processed(
    caller: CallerDep, services: ServicesDep, params: Annotated[ProcessedFilters, Query()]
) -> views.ProcessedPage:
    return await views.processed(
        services.sessions,
        team_id=caller.team_id,
        user_id=params.user,
        status=params.status,
        limit=params.limit,
        cursor=params.cursor,
    )


@router.get(
    "/audit",
    response_model=views.AuditPage,
    summary="The audit log (of one target with target_type and target_id), with counts per action",
    responses=LIST_PROBLEMS,
)
async def audit(caller: CallerDep, services: ServicesDep, params: Annotated[AuditFilters, Query()]) -> views.AuditPage:
    return await views.audit_log(
        services.sessions,
        team_id=caller.team_id,
        target_type=params.target_type,
        target_id=params.target_id,
        action=params.action,
        limit=params.limit,
        cursor=params.cursor,
    )


@router.get(
    "/work-items/{work_item_id}",
    response_model=views.WorkItemDetail,
    summary="A work item with its gate evaluations, proposed action and feedback",
    responses=READ_PROBLEMS,
)
async def work_item(work_item_id: uuid.UUID, caller: CallerDep, services: ServicesDep) -> views.WorkItemDetail:
    return await views.get_work_item(services.sessions, team_id=caller.team_id, work_item_id=work_item_id)


@router.get(
    "/work-items/{work_item_id}/timeline",
    response_model=views.TimelinePage,
    summary="A work item's run timeline, oldest first, each run with its events",
    responses=READ_PROBLEMS,
)
async def timeline(
    work_item_id: uuid.UUID, caller: CallerDep, services: ServicesDep, params: Annotated[ListParams, Query()]
) -> views.TimelinePage:
    return await views.timeline(
        services.sessions, team_id=caller.team_id, work_item_id=work_item_id, limit=params.limit, cursor=params.cursor
    )


@router.post(
    "/actions/{action_id}/approve",
    response_model=DecideActionResult,
    summary="Approve a proposed action: its Gmail draft or Calendar event is made, once",
    description="Approving again returns the first approval's result; an action rejected before is 409.",
    responses=WRITE_PROBLEMS,
    dependencies=[Depends(json_body)],
)
async def approve(
    action_id: uuid.UUID,
    caller: CallerDep,
    services: ServicesDep,
    body: Annotated[ApproveRequest | None, Body()] = None,
) -> DecideActionResult:
    return await temporal(
        signals.approve_action(
            services.temporal,
            services.sessions,
            str(action_id),
            task_queue=services.settings.task_queue,
            payload_override=body.payload if body else None,
            approved_by=f"api-token:{caller.token_id}",
            team_id=caller.team_id,
        )
    )


@router.post(
    "/actions/{action_id}/reject",
    response_model=DecideActionResult,
    summary="Reject a proposed action, with a note: dismissed, negative feedback kept",
    description="Rejecting again returns the first rejection's result; an action approved before is 409.",
    responses=WRITE_PROBLEMS,
    dependencies=[Depends(json_body)],
)
async def reject(
    action_id: uuid.UUID,
    caller: CallerDep,
    services: ServicesDep,
    body: Annotated[RejectRequest | None, Body()] = None,
) -> DecideActionResult:
    return await temporal(
        signals.reject_action(
            services.temporal,
            services.sessions,
            str(action_id),
            task_queue=services.settings.task_queue,
            note=body.note if body else None,
            rejected_by=f"api-token:{caller.token_id}",
            team_id=caller.team_id,
        )
    )


@router.post(
    "/actions/{action_id}/feedback",
    response_model=RecordFeedbackResult,
    summary="The user's verdict on an action's work item: positive or negative, with a note",
    responses=WRITE_PROBLEMS,
    dependencies=[Depends(json_body)],
)
async def feedback(
    action_id: uuid.UUID, body: FeedbackRequest, caller: CallerDep, services: ServicesDep
) -> RecordFeedbackResult:
    return await temporal(
        signals.give_feedback(
            services.temporal,
            services.sessions,
            str(action_id),
            task_queue=services.settings.task_queue,
            positive=body.rating == "positive",
            note=body.note,
            given_by=f"api-token:{caller.token_id}",
            team_id=caller.team_id,
        )
    )
