"""What a discussion's Notion task page holds, and the thread as the pipeline stores it.

Pure functions of their inputs (no I/O), so the page can be checked without Notion: the
Name property and the task's fields through the source config's field mapping, and a body
with the summary, the action items as to-dos, the key points, the participants, the thread
and a link back to the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from integrations import notion
from integrations.llm import DetectedTask, ThreadAnalysis

# Notion properties the pipeline fills, and the database property each goes to unless
# the source config's notion_field_mapping says otherwise (None there: leave it out).
DEFAULT_FIELD_MAPPING: dict[str, str | None] = {
    "priority": "Priority",
    "type": "Type",
    "assignee": "Assignee",
    "due_date": "Due",
    "tags": "Tags",
    "domain": "Domain",
    "source_url": "Source",
    "key": "Intake Key",
}


class ThreadMessage(BaseModel):
    id: str
    author: str
    text: str


class ThreadData(BaseModel):
    """A thread as `discussions.thread_data` keeps it, whatever the source."""

    source_type: str
    messages: list[ThreadMessage]

    @property
    def participants(self) -> list[str]:
        return list(dict.fromkeys(m.author for m in self.messages))


@dataclass(frozen=True)
class PageSource:
    """Where the task came from, for the Source property and the link back."""

    source_type: str
    source_thread_id: str
    source_url: str | None


def page_properties(task: DetectedTask, source: PageSource, mapping: dict[str, str | None]) -> dict[str, Any]:
    """The Name property, and the task's fields through the config's field mapping."""
    values: dict[str, dict[str, Any]] = {
        "priority": notion.select_property(task.priority),
        "type": notion.select_property(task.type),
        "assignee": notion.rich_text_property(task.assignee or ""),
        "due_date": notion.date_property(task.due_date),
        "tags": notion.multi_select_property(task.tags),
        "domain": notion.select_property(task.domain),
        "source_url": notion.url_property(source.source_url),
    }
    properties = {"Name": notion.title_property(task.title)}
    for field, value in values.items():
        if (name := mapping.get(field)) is not None:
            properties[name] = value
    return properties


def page_body(
    task: DetectedTask, analysis: ThreadAnalysis, thread: ThreadData, source: PageSource
) -> list[dict[str, Any]]:
    """Summary, the action items as to-dos, key points, participants, the thread, a link back."""
    blocks = [notion.heading("Summary"), notion.paragraph(task.description or analysis.summary)]
    if task.action_items:
        blocks += [notion.heading("Action items"), *(notion.to_do(item) for item in task.action_items)]
    if analysis.key_points:
        blocks += [notion.heading("Key points"), *(notion.bullet(point) for point in analysis.key_points)]
    if thread.participants:
        blocks += [notion.heading("Participants"), notion.paragraph(", ".join(thread.participants))]
    # The thread itself, as many messages as fit in a page body next to the rest.
    room = notion.MAX_CHILDREN - len(blocks) - 3
    if thread.messages and room > 0:
        blocks += [notion.heading("Thread"), *(notion.bullet(f"{m.author}: {m.text}") for m in thread.messages[:room])]
    where = source.source_url or f"{source.source_type} thread {source.source_thread_id}"
    blocks.append(notion.paragraph(f"Source: {where}", link=source.source_url))
    return blocks
