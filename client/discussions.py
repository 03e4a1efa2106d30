"""Start, retry and look up discussion pipelines (used by `intake discussion` and the API)."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import ValidationError
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
    no_source_config_problem,
    thread_id_problem,
)
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import parse_uuid
from db.repositories.discussions import DiscussionRepository, SourceConfigRepository
from workflows.discussions import DiscussionWorkflow
from workflows.search_attributes import DISCUSSION_ID, TEAM_ID

DiscussionHandle = WorkflowHandle[DiscussionWorkflow, DiscussionResult]


class DiscussionNotRetryableError(ConflictError):
    """A retry was asked for a discussion that has not failed (HTTP 422 in the API)."""


def load_discussion_input(path: Path) -> DiscussionInput:
    """A DiscussionInput from a JSON file, or InvalidInputError saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a directory, not a JSON payload file") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not a text file (UTF-8 JSON expected)") from None
    except OSError as err:
        raise InvalidInputError(f"{path} cannot be read: {err.strerror or err}") from None
    try:
        return DiscussionInput.model_validate_json(text)
    except ValidationError as err:
        raise InvalidInputError.from_validation(f"{path} is not a valid discussion payload", err) from None


async def check_discussion(sessions: async_sessionmaker[AsyncSession], input: DiscussionInput) -> None:
    """Refuse what the run would refuse at ingestion: a thread id not of the source's shape, or a
    team without an enabled config for the source (InvalidInputError / NotFoundError)."""
    problem = thread_id_problem(input.source_type, input.source_thread_id)
    if problem is not None:
        raise InvalidInputError(problem)
    async with sessions() as session:
        config = await SourceConfigRepository().find_enabled(input.team_id, input.source_type, session=session)
    if config is None:
        raise NotFoundError(no_source_config_problem(input.team_id, input.source_type))


async def start_discussion(
    client: Client,
    input: DiscussionInput,
    *,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> DiscussionHandle:
    """Start the thread's pipeline, or return the run already going for it.

    The workflow id is the thread's, so a redelivered webhook (Slack's
    X-Slack-Retry-Num) lands on the running pipeline and starts nothing. A
    thread whose pipeline completed is not processed again; one whose pipeline
    failed with its discussion saved is started afresh only through
    `retry_discussion` (a new job on the stored thread).

    With `sessions` (the CLI, the API), the input is checked first
    (`check_discussion`), so bad input starts nothing and writes nothing; and a
    thread whose earlier run failed before its discussion was saved (refused at
    ingestion: there is nothing to retry) is started afresh. Without it, the
    run's ingestion stage checks the input and records a refusal on a failed job.
    """
    if sessions is not None:
        await check_discussion(sessions, input)
    workflow_id = discussion_workflow_id(input.team_id, input.source_type, input.source_thread_id)
    discussion_id = discussion_id_for(input.team_id, input.source_type, input.source_thread_id)
    afresh = input.retry is not None
    try:
        return await _start(client, input, workflow_id, discussion_id, task_queue=task_queue, afresh=afresh)
    except WorkflowAlreadyStartedError as err:
        earlier = await client.get_workflow_handle(workflow_id).describe()
        status = earlier.status.name.lower() if earlier.status else "unknown"
        saved = None
        if sessions is not None:
            async with sessions() as session:
                saved = await DiscussionRepository().for_team(input.team_id, discussion_id, session=session)
            if saved is None and not afresh and status in ("failed", "terminated", "canceled", "timed_out"):
                try:
                    return await _start(client, input, workflow_id, discussion_id, task_queue=task_queue, afresh=True)
                except WorkflowAlreadyStartedError:
                    pass  # another start got there first and its run has finished: say so below
        where = f"{discussion_id} --team {input.team_id}"
        failed = saved.status == "failed" if saved is not None else sessions is None and status == "failed"
        hint = (
            f"retry it with `intake discussion retry {where}`"
            if failed
            else f"`intake discussion status {where}` shows the result"
        )
        raise ConflictError(
            f"{input.source_type} thread {input.source_thread_id} of team {input.team_id} was already "
            f"processed (workflow {workflow_id}, {status}); {hint}"
        ) from err


async def _start(
    client: Client, input: DiscussionInput, workflow_id: str, discussion_id: uuid.UUID, *, task_queue: str, afresh: bool
) -> DiscussionHandle:
    """Start the run, or join the one going; a closed run's id is reused only when `afresh` and it did
    not complete (a retry, or a run refused before its discussion was saved)."""
    return await client.start_workflow(
        DiscussionWorkflow.run,
        input,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=(
            WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY if afresh else WorkflowIDReusePolicy.REJECT_DUPLICATE
        ),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(TEAM_ID, input.team_id),
                SearchAttributePair(DISCUSSION_ID, str(discussion_id)),
            ]
        ),
    )


async def retry_discussion(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    discussion_id: str,
    retried_by: str,
    task_queue: str,
) -> DiscussionHandle:
    """Rerun a failed discussion as a NEW job that reuses the stored thread."""
    async with sessions() as session:
        discussion = await DiscussionRepository().for_team(team_id, parse_discussion_id(discussion_id), session=session)
    if discussion is None:
        raise NotFoundError(f"team {team_id!r} has no discussion {discussion_id}")
    if discussion.status != "failed":
        raise DiscussionNotRetryableError(
            f"discussion {discussion_id} is {discussion.status}, not failed: only a failed discussion can be retried"
        )
    return await start_discussion(
        client,
        DiscussionInput(
            team_id=discussion.team_id,
            source_type=discussion.source_type,
            source_thread_id=discussion.source_thread_id,
            title=discussion.title,
            content=discussion.content,
            author_handle=discussion.author_handle,
            source_url=discussion.source_url,
            retry=RetryDiscussionInput(retried_by=retried_by, original_discussion_id=str(discussion.id)),
        ),
        task_queue=task_queue,
        sessions=sessions,
    )


def parse_discussion_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "a discussion id")
