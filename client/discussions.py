"""Start, retry and look up discussion pipelines (used by `intake discussion` and the API)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.discussions import (
    DiscussionInput,
    DiscussionResult,
    RetryDiscussionInput,
    discussion_id_for,
    discussion_workflow_id,
)
from core.errors import ConflictError, NotFoundError
from db.repositories.discussions import DiscussionRepository
from workflows.discussions import DiscussionWorkflow
from workflows.search_attributes import DISCUSSION_ID, TEAM_ID

DiscussionHandle = WorkflowHandle[DiscussionWorkflow, DiscussionResult]


class DiscussionNotRetryableError(ConflictError):
    """A retry was asked for a discussion that has not failed (HTTP 422 in the API)."""


async def start_discussion(client: Client, input: DiscussionInput, *, task_queue: str) -> DiscussionHandle:
    """Start the thread's pipeline, or return the run already going for it.

    The workflow id is the thread's, so a redelivered webhook (Slack's
    X-Slack-Retry-Num) lands on the running pipeline and starts nothing. A
    thread whose pipeline completed is not processed again; one whose pipeline
    failed is started afresh only through `retry_discussion`.
    """
    workflow_id = discussion_workflow_id(input.team_id, input.source_type, input.source_thread_id)
    try:
        return await client.start_workflow(
            DiscussionWorkflow.run,
            input,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=(WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY if input.retry
                             else WorkflowIDReusePolicy.REJECT_DUPLICATE),
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(TEAM_ID, input.team_id),
                SearchAttributePair(DISCUSSION_ID, str(discussion_id_for(
                    input.team_id, input.source_type, input.source_thread_id))),
            ]),
        )
    except WorkflowAlreadyStartedError as err:
        earlier = await client.get_workflow_handle(workflow_id).describe()
        status = earlier.status.name.lower() if earlier.status else "unknown"
        hint = ("retry it with `intake discussion retry`" if status == "failed"
                else "`intake discussion status` shows the result")
        raise ConflictError(
            f"{input.source_type} thread {input.source_thread_id} of team {input.team_id} was already "
            f"processed (workflow {workflow_id}, {status}); {hint}"
        ) from err


async def retry_discussion(
    client: Client, sessions: async_sessionmaker[AsyncSession], *, team_id: str, discussion_id: str,
    retried_by: str, task_queue: str,
) -> DiscussionHandle:
    """Rerun a failed discussion as a NEW job that reuses the stored thread."""
    async with sessions() as session:
        discussion = await DiscussionRepository().for_team(team_id, parse_discussion_id(discussion_id), session=session)
    if discussion is None:
        raise NotFoundError(f"team {team_id!r} has no discussion {discussion_id}")
    if discussion.status != "failed":
        raise DiscussionNotRetryableError(
            f"discussion {discussion_id} is {discussion.status}, not failed: only a failed discussion "
            "can be retried"
        )
    return await start_discussion(
        client,
        DiscussionInput(
            team_id=discussion.team_id, source_type=discussion.source_type,  # type: ignore[arg-type]
            source_thread_id=discussion.source_thread_id, title=discussion.title,
            content=discussion.content, author_handle=discussion.author_handle,
            source_url=discussion.source_url,
            retry=RetryDiscussionInput(retried_by=retried_by, original_discussion_id=str(discussion.id)),
        ),
        task_queue=task_queue,
    )


def parse_discussion_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as err:
        raise NotFoundError(f"{value!r} is not a discussion id (a UUID)") from err
