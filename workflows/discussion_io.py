"""What DiscussionWorkflow takes and returns, and its workflow id.

Kept apart from the workflow so the workflow sandbox imports these models once
(passed through) instead of rebuilding them for every run.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from activities.discussions import RetryRequest


class DiscussionInput(BaseModel):
    team_id: str = Field(min_length=1)
    source_type: Literal["slack", "figma"]
    # Slack: "<channel>:<thread ts>"; Figma: "<file key>:<root comment id>".
    source_thread_id: str = Field(min_length=3)
    title: str | None = None
    content: str | None = None
    author_handle: str | None = None
    source_url: str | None = None
    retry: RetryRequest | None = None


class DiscussionResult(BaseModel):
    job_id: str
    discussion_id: str
    task_ids: list[str]
    notion_page_urls: list[str]
    reply_id: str | None
    processing_ms: int


def discussion_workflow_id(team_id: str, source_type: str, source_thread_id: str) -> str:
    """One id per thread: Temporal then refuses a second run while one is going."""
    safe_thread = re.sub(r"[^A-Za-z0-9._:-]", "_", source_thread_id)
    return f"discussion/{team_id}/{source_type}/{safe_thread}"


__all__ = ["DiscussionInput", "DiscussionResult", "RetryRequest", "discussion_workflow_id"]
