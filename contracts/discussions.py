"""The discussion pipeline's contract: a Slack or Figma thread becomes Notion tasks.

`DiscussionWorkflow` takes a `DiscussionInput` and returns a `DiscussionResult`; its
stage activities take and return the models below. The thread decides both ids: the
workflow id (`discussion_workflow_id`, so a redelivered webhook finds the running
pipeline) and the discussion's row id (`discussion_id_for`, known before the run starts).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

SourceType = Literal["slack", "figma"]
Stage = Literal["ingestion", "thread_building", "ai_analysis", "task_creation", "notification"]

# Discussion ids are derived from the thread (uuid5 in this namespace), so whoever
# starts a pipeline knows its discussion's id before it runs: the id goes on the run
# as a search attribute at start, and a webhook can answer with it at once.
DISCUSSION_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-5e8f-9a0b-1c2d3e4f5a6b")

# The shape of a thread id per source.
THREAD_ID_FORMATS = {
    "slack": re.compile(r"^[A-Z0-9]+:\d+\.\d+$"),  # <channel id>:<thread ts>
    "figma": re.compile(r"^[A-Za-z0-9]+:[A-Za-z0-9-]+$"),  # <file key>:<root comment id>
}
THREAD_ID_EXAMPLES = {
    "slack": "<channel>:<thread ts>, e.g. C024BE91L:1712345678.000100",
    "figma": "<file key>:<comment id>, e.g. FiLeKeY123:98765",
}


def discussion_id_for(team_id: str, source_type: str, source_thread_id: str) -> uuid.UUID:
    """The id of a thread's discussion: one per (team, source, thread), as the unique key says."""
    return uuid.uuid5(DISCUSSION_NAMESPACE, f"{team_id}/{source_type}/{source_thread_id}")


def discussion_workflow_id(team_id: str, source_type: str, source_thread_id: str) -> str:
    """One id per thread: Temporal then refuses a second run while one is going."""
    safe_thread = re.sub(r"[^A-Za-z0-9._:-]", "_", source_thread_id)
    return f"discussion/{team_id}/{source_type}/{safe_thread}"


def thread_id_problem(source_type: str, source_thread_id: str) -> str | None:
    """Why a thread id cannot be one of `source_type`'s, or None when its shape is right.

    The client checks it before starting a run, and the ingestion stage again (for a run
    started some other way), with the same words."""
    pattern = THREAD_ID_FORMATS.get(source_type)
    if pattern is None:
        return f"unknown source type {source_type!r} (slack or figma)"
    if pattern.match(source_thread_id) is None:
        return f"{source_type} thread id {source_thread_id!r} is not valid: expected {THREAD_ID_EXAMPLES[source_type]}"
    return None


def no_source_config_problem(team_id: str, source_type: str) -> str:
    """What is wrong when a team has no enabled config for the source (the client's check, and ingestion's)."""
    return (
        f"team {team_id!r} has no enabled {source_type} source config "
        "(which Notion database gets its tasks); `intake db seed` adds the demo teams'"
    )


# -- the workflow ---------------------------------------------------------------------------


class RetryDiscussionInput(BaseModel):
    """Set when a failed discussion is retried: the new job records who asked and what it retries."""

    retried_by: str
    original_discussion_id: str


class DiscussionInput(BaseModel):
    team_id: str = Field(min_length=1)
    source_type: SourceType
    # Slack: "<channel>:<thread ts>"; Figma: "<file key>:<root comment id>".
    source_thread_id: str = Field(min_length=3)
    title: str | None = None
    content: str | None = None
    author_handle: str | None = None
    source_url: str | None = None
    retry: RetryDiscussionInput | None = None


class DiscussionResult(BaseModel):
    job_id: str
    discussion_id: str
    task_ids: list[str]
    notion_page_urls: list[str]
    reply_id: str | None
    processing_ms: int


class CleanupJobsInput(BaseModel):
    retention_days: int = Field(30, ge=1)


class CleanupJobsResult(BaseModel):
    cutoff: datetime
    deleted_job_ids: list[str]


# -- the activities -------------------------------------------------------------------------


class OpenDiscussionInput(BaseModel):
    """Stages 1-2: the run's job (its id chosen by the workflow) and the thread to save."""

    job_id: str
    workflow_id: str
    workflow_run_id: str
    started_at: datetime
    retry: RetryDiscussionInput | None = None
    team_id: str
    source_type: str
    source_thread_id: str
    title: str | None = None
    content: str | None = None
    author_handle: str | None = None
    source_url: str | None = None


class OpenDiscussionResult(BaseModel):
    discussion_id: str
    source_config_id: str


class StageInput(BaseModel):
    """What every later stage gets: the discussion, and the job whose stage it records."""

    discussion_id: str
    job_id: str


class BuildThreadInput(StageInput):
    reuse_stored: bool = False


class BuildThreadResult(BaseModel):
    message_count: int
    participants: list[str]
    fetched: bool


class AnalyzeThreadInput(StageInput):
    pass


class AnalyzeThreadResult(BaseModel):
    task_count: int
    summary: str


class CreateTasksInput(StageInput):
    pass


class TaskRef(BaseModel):
    """One task made: its record and its Notion page."""

    task_id: str
    title: str
    notion_page_id: str
    notion_page_url: str | None


class CreateTasksResult(BaseModel):
    tasks: list[TaskRef]


class NotifyThreadInput(StageInput):
    tasks: list[TaskRef]


class NotifyThreadResult(BaseModel):
    reply_id: str | None
    processing_ms: int  # measured by the database as the job completed


class FailDiscussionInput(BaseModel):
    job_id: str
    discussion_id: str  # failed only if this job had taken it over (it may not exist at all)
    stage: str
    error: str
    error_stack: str


class DeleteOldJobsInput(BaseModel):
    cutoff: datetime


class DeleteOldJobsResult(BaseModel):
    deleted_job_ids: list[str]
