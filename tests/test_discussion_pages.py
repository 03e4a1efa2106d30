"""The Notion page a detected task becomes: properties through the field mapping, and the body."""

from __future__ import annotations

from datetime import date

from activities.discussion_pages import (
    DEFAULT_FIELD_MAPPING,
    PageSource,
    ThreadData,
    ThreadMessage,
    page_body,
    page_properties,
)
from integrations import notion
from integrations.llm import DetectedTask, ThreadAnalysis

TASK = DetectedTask(
    title="Fix the checkout button",
    description="The button overlaps on mobile.",
    action_items=["reproduce on iOS", "ship a fix"],
    priority="high",
    type="bug",
    assignee="maya",
    due_date=date(2026, 12, 9),
    tags=["checkout"],
    domain="web",
)
ANALYSIS = ThreadAnalysis(summary="Checkout is broken on mobile.", key_points=["iOS only"], tasks=[TASK])
SOURCE = PageSource(source_type="slack", source_thread_id="C1:1.0", source_url="https://slack.example/t/1")


def _texts(blocks: list[dict]) -> list[tuple[str, str]]:
    found = []
    for block in blocks:
        kind = block["type"]
        found.append((kind, "".join(part["text"]["content"] for part in block[kind]["rich_text"])))
    return found


def test_properties_follow_the_field_mapping() -> None:
    mapping = {**DEFAULT_FIELD_MAPPING, "priority": "Urgency", "tags": None}
    properties = page_properties(TASK, SOURCE, mapping)
    assert properties["Name"] == notion.title_property("Fix the checkout button")
    assert properties["Urgency"] == notion.select_property("high")
    assert properties["Due"] == notion.date_property(date(2026, 12, 9))
    assert properties["Source"] == notion.url_property("https://slack.example/t/1")
    assert "Priority" not in properties and "Tags" not in properties  # renamed, and left out


def test_the_body_has_summary_to_dos_key_points_participants_thread_and_a_link_back() -> None:
    thread = ThreadData(
        source_type="slack",
        messages=[
            ThreadMessage(id="1", author="maya", text="checkout overlaps"),
            ThreadMessage(id="2", author="tom", text="only on iOS"),
            ThreadMessage(id="3", author="maya", text="I'll take it"),
        ],
    )
    blocks = _texts(page_body(TASK, ANALYSIS, thread, SOURCE))
    assert blocks[:2] == [("heading_2", "Summary"), ("paragraph", "The button overlaps on mobile.")]
    assert ("to_do", "reproduce on iOS") in blocks and ("to_do", "ship a fix") in blocks
    assert ("bulleted_list_item", "iOS only") in blocks
    assert ("paragraph", "maya, tom") in blocks  # participants once each, in order
    assert ("bulleted_list_item", "tom: only on iOS") in blocks
    assert blocks[-1] == ("paragraph", "Source: https://slack.example/t/1")


def test_a_long_thread_is_cut_to_fit_the_page() -> None:
    thread = ThreadData(
        source_type="figma",
        messages=[ThreadMessage(id=str(n), author=f"u{n % 3}", text=f"message {n}") for n in range(500)],
    )
    blocks = page_body(TASK, ANALYSIS, thread, PageSource("figma", "KEY:1", None))
    assert len(blocks) <= notion.MAX_CHILDREN
    assert _texts(blocks)[-1] == ("paragraph", "Source: figma thread KEY:1")
