"""The ids each pipeline derives, tested once here: every layer builds them through these functions."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from contracts.approvals import proposed_action_workflow_id, tool_call_workflow_id
from contracts.discussions import discussion_id_for, discussion_workflow_id, thread_id_problem
from contracts.exports import export_drain_workflow_id
from contracts.health import health_check_workflow_id
from contracts.signals import ingest_signals_schedule_id, ingest_signals_workflow_id, scheduled_ingest_workflow_id
from contracts.work_orders import (
    DocumentSource,
    WorkspaceSpec,
    document_child_workflow_id,
    file_ingest_workflow_id,
    gmail_ingest_workflow_id,
)


def test_a_thread_has_one_workflow_id_and_one_discussion_id() -> None:
    assert discussion_workflow_id("acme", "slack", "C1:1712.0001") == "discussion/acme/slack/C1:1712.0001"
    # Characters a workflow id should not carry become "_"; the discussion id keeps the thread as given.
    assert discussion_workflow_id("acme", "figma", "k/ey:1 2") == "discussion/acme/figma/k_ey:1_2"
    first = discussion_id_for("acme", "slack", "C1:1712.0001")
    assert first == discussion_id_for("acme", "slack", "C1:1712.0001")
    assert first.version == 5
    assert (
        len(
            {
                first,
                discussion_id_for("other", "slack", "C1:1712.0001"),
                discussion_id_for("acme", "figma", "C1:1712.0001"),
                discussion_id_for("acme", "slack", "C1:1712.0002"),
            }
        )
        == 4
    )


def test_thread_ids_are_checked_for_their_source_shape() -> None:
    assert thread_id_problem("slack", "C024BE91L:1712345678.000100") is None
    assert thread_id_problem("figma", "FiLe123:98765") is None
    problem = thread_id_problem("slack", "C024BE91L")
    assert problem is not None and "C024BE91L" in problem and "<channel>:<thread ts>" in problem
    assert thread_id_problem("teams", "x:y") is not None


def test_workflow_ids_of_the_other_pipelines() -> None:
    assert proposed_action_workflow_id("a1") == "action/a1"
    assert tool_call_workflow_id("alice", "c9") == "tool-call/alice/c9"
    assert export_drain_workflow_id("intake") == "export-drain/intake"
    token = str(uuid.uuid4())
    assert health_check_workflow_id(token) == f"health-{token}"
    # The on-demand run and the schedule share the user's name; the schedule's runs have their own prefix.
    assert ingest_signals_workflow_id("alice") == ingest_signals_schedule_id("alice") == "ingest-signals/alice"
    assert scheduled_ingest_workflow_id("alice") == "ingest-signals-scheduled/alice"
    assert file_ingest_workflow_id("workorder", "acme", "ab12") == "workorder/acme/file/ab12"
    assert (
        gmail_ingest_workflow_id("signed", "acme", "ops@x.com", message_id="m1", search_token="t")
        == "signed/acme/gmail/ops@x.com/message/m1"
    )
    assert (
        gmail_ingest_workflow_id("signed", "acme", "ops@x.com", message_id=None, search_token="t")
        == "signed/acme/gmail/ops@x.com/search/t"
    )
    source = DocumentSource(kind="gmail", user="ops@x.com", message_id="m1", attachment_id="a2")
    assert document_child_workflow_id("parent", source) == "parent/m1/a2"


def test_a_workspace_slug_is_lower_case_letters_digits_and_dashes() -> None:
    # The slugs the CLI's default, the demo, the bench and the tests use.
    for slug in ("default", "bench", "ops-1a2b3c", "ws-1a2b3c4d", "one-to-one", "9lives", "a" * 63):
        assert WorkspaceSpec(slug=slug).slug == slug
    for slug in ("", "Bad Slug!", "Acme", "-acme", "acme_ops", "a" * 64, "acme\n"):
        with pytest.raises(ValidationError, match="is not a workspace slug"):
            WorkspaceSpec(slug=slug)
