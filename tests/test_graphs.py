"""Graph workflows: definitions validated and stored, GraphWorkflow runs them on real Temporal and
PostgreSQL, with the sandbox for Slack, Notion and Sheets."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError

from client import graphs
from contracts.graphs import GraphDefinition
from core.errors import ConflictError
from core.settings import Settings
from db.models.graphs import GraphStep
from db.repositories.graphs import DefinitionRepository, GraphStepRepository
from db.uow import unit_of_work
from sandbox.control import SandboxControl
from sandbox.seed_mail import SPREADSHEET_ID
from tests.helpers import intake_cli, record_history

NOTION_DATABASE = "5b2f6c0e-8a43-4d0c-9a59-3f5e1c2d7a10"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "graphs"


def graph(name: str, nodes: list[dict[str, Any]], edges: list[tuple[str, str] | dict[str, Any]]) -> GraphDefinition:
    return GraphDefinition.model_validate(
        {
            "name": name,
            "nodes": nodes,
            "edges": [e if isinstance(e, dict) else {"from": e[0], "to": e[1]} for e in edges],
        }
    )


def node(node_id: str, node_type: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "parameters": parameters}


def problems_of(definition: dict[str, Any]) -> list[str]:
    return graphs.definition_problems(GraphDefinition.model_validate(definition))


async def apply(sessions: async_sessionmaker[AsyncSession], definition: GraphDefinition) -> None:
    await graphs.apply_definition(sessions, definition)


async def steps_of(sessions: async_sessionmaker[AsyncSession], execution_id: str) -> dict[str, GraphStep]:
    async with sessions() as session:
        return {s.node_id: s for s in await GraphStepRepository().of(uuid.UUID(execution_id), session=session)}


async def wait_for_approval(client: Client, execution_id: str, node_id: str) -> None:
    handle = client.get_workflow_handle(f"graph/{execution_id}")
    for _ in range(200):
        if node_id in await handle.query("waiting"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{node_id} never waited for approval")


# -- validation -----------------------------------------------------------------------------

LINEAR = {
    "name": "ok",
    "nodes": [node("start", "start"), node("t", "transform", set={"a": 1}), node("end", "end")],
    "edges": [{"from": "start", "to": "t"}, {"from": "t", "to": "end"}],
}


def with_change(**change: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(LINEAR)), **change}


@pytest.mark.parametrize(
    "definition, expected",
    [
        (
            with_change(nodes=[*LINEAR["nodes"][:2], node("end", "teleport")]),
            "node end: unknown node type 'teleport'",
        ),
        (
            with_change(edges=[*LINEAR["edges"], {"from": "t", "to": "nowhere"}]),
            "edge t -> nowhere: dangling, no node nowhere",
        ),
        (
            with_change(
                nodes=[*LINEAR["nodes"], node("u", "noop")],
                edges=[*LINEAR["edges"], {"from": "t", "to": "u"}, {"from": "u", "to": "t"}],
            ),
            "cycle: t -> u -> t",
        ),
        (
            with_change(nodes=[*LINEAR["nodes"], node("orphan", "noop")]),
            "node orphan: no path from the start node start reaches it",
        ),
        (
            with_change(nodes=[node("start", "start"), node("t", "delay", seconds=-1), node("end", "end")]),
            "node t (delay): parameters: seconds: Input should be greater than 0",
        ),
        (
            with_change(
                nodes=[*LINEAR["nodes"], node("start2", "start")],
                edges=[*LINEAR["edges"], {"from": "start2", "to": "t"}],
            ),
            "the graph has 2 start nodes (start, start2); it needs exactly one",
        ),
        (
            with_change(nodes=[node("start", "start"), node("t", "condition", expression="a >"), node("end", "end")]),
            "node t (condition): expression 'a >': not an expression",
        ),
        (
            with_change(edges=[LINEAR["edges"][0], {"from": "t", "to": "end", "condition": True}]),
            "edge t -> end: condition True needs a condition node at its start",
        ),
    ],
    ids=[
        "unknown-type",
        "dangling-edge",
        "cycle",
        "unreachable",
        "bad-parameters",
        "two-starts",
        "bad-expression",
        "branch-without-condition",
    ],
)
def test_validation_names_the_node_or_edge(definition: dict[str, Any], expected: str) -> None:
    problems = problems_of(definition)
    assert any(expected in p for p in problems), problems


def test_a_valid_definition_has_no_problems() -> None:
    assert problems_of(LINEAR) == []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert graphs.validate_file(path).name, path


async def test_cli_validate_refuses_with_one_line_and_exit_2(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(with_change(edges=[*LINEAR["edges"], {"from": "t", "to": "ghost"}])))
    done = await intake_cli(settings, "graph", "validate", str(bad))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "edge t -> ghost" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    good = tmp_path / "good.yaml"
    good.write_text(json.dumps(LINEAR))
    done = await intake_cli(settings, "graph", "validate", str(good))
    assert done.returncode == 0, done.stderr


async def test_apply_stores_a_new_version_only_when_the_graph_changes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first, created = await graphs.apply_definition(sessions, GraphDefinition.model_validate(LINEAR))
    again, created_again = await graphs.apply_definition(sessions, GraphDefinition.model_validate(LINEAR))
    changed = with_change(nodes=[LINEAR["nodes"][0], node("t", "transform", set={"a": 2}), LINEAR["nodes"][2]])
    second, _ = await graphs.apply_definition(sessions, GraphDefinition.model_validate(changed))
    assert (first.version, created, again.version, created_again, second.version) == (1, True, 1, False, 2)


# -- running --------------------------------------------------------------------------------


async def test_a_linear_graph_with_a_condition_runs_and_records_its_steps(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    definition = graph(
        "linear",
        [
            node("start", "start", required=["amount"]),
            node(
                "double", "transform", source="input", rename={"amount": "value"}, compute={"twice": "input.amount * 2"}
            ),
            node("big", "condition", expression="nodes.double.twice > 10"),
            node("yes", "transform", set={"label": "big {{ nodes.double.value }}"}),
            node("no", "transform", set={"label": "small"}),
            node("end", "end", output={"label": "{{ nodes.yes.label }}", "twice": "{{ nodes.double.twice }}"}),
        ],
        [
            ("start", "double"),
            ("double", "big"),
            {"from": "big", "to": "yes", "condition": True},
            {"from": "big", "to": "no", "condition": False},
            ("yes", "end"),
            ("no", "end"),
        ],
    )
    await apply(sessions, definition)
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "linear", {"amount": 7}, task_queue=task_queue)
        result = await handle.result()
        await record_history(handle, "graph_linear")
    assert result.output == {"label": "big 7", "twice": 14}
    assert result.nodes_skipped == ["no"]
    steps = await steps_of(sessions, execution_id)
    assert {k: s.status for k, s in steps.items()} == {
        "start": "completed",
        "double": "completed",
        "big": "completed",
        "yes": "completed",
        "no": "skipped",
        "end": "completed",
    }
    assert steps["double"].output == {"value": 7, "twice": 14}
    assert steps["big"].routes == [True, False]
    status = await graphs.run_status(sessions, execution_id)
    assert status["status"] == "completed" and status["output"] == result.output


async def test_branches_run_in_parallel_and_join(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    definition = graph(
        "branches",
        [
            node("start", "start"),
            node("left", "delay", seconds=1),
            node("right", "delay", seconds=1),
            node("join", "transform", set={"both": "{{ [nodes.left.slept_seconds, nodes.right.slept_seconds] }}"}),
            node("end", "end"),
        ],
        [("start", "left"), ("start", "right"), ("left", "join"), ("right", "join"), ("join", "end")],
    )
    await apply(sessions, definition)
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "branches", {}, task_queue=task_queue)
        result = await handle.result()
        await record_history(handle, "graph_branches")
    steps = await steps_of(sessions, execution_id)
    left, right, join = steps["left"], steps["right"], steps["join"]
    assert left.started_at and left.finished_at and right.started_at and right.finished_at and join.started_at
    # Each branch started before the other finished: they ran at once; the join waited for both.
    assert left.started_at < right.finished_at and right.started_at < left.finished_at
    assert join.started_at >= max(left.finished_at, right.finished_at)
    assert result.output["join"] == {"both": [1, 1]}


async def test_a_failing_branch_cancels_its_sibling_and_fails_the_execution_naming_the_node(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    definition = graph(
        "failing",
        [
            node("start", "start"),
            node("slow", "delay", seconds=600),
            node("broken", "transform", compute={"ratio": "1 / 0"}),
            node("end", "end"),
        ],
        [("start", "slow"), ("start", "broken"), ("slow", "end"), ("broken", "end")],
    )
    await apply(sessions, definition)
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "failing", {}, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), timeout=60)
    assert "node broken (transform) failed" in str(failure.value.cause)
    status = await graphs.run_status(sessions, execution_id)
    assert status["status"] == "failed" and status["failed_node_id"] == "broken"
    assert "ZeroDivisionError" in status["error"]
    steps = await steps_of(sessions, execution_id)
    assert steps["broken"].status == "failed"
    assert steps["slow"].status == "failed" and steps["slow"].error == "cancelled: node broken failed"
    assert "end" not in steps


APPROVAL = graph(
    "approval",
    [
        node("start", "start"),
        node("pause", "delay", seconds=0.2),
        node("ask", "approval", prompt="ship it?", timeout_seconds=30),
        node("end", "end", output={"decision": "{{ nodes.ask.decision }}", "by": "{{ nodes.ask.by }}"}),
    ],
    [("start", "pause"), ("pause", "ask"), ("ask", "end")],
)


async def test_approval_by_update_after_a_delay(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await apply(sessions, APPROVAL)
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "approval", {}, task_queue=task_queue)
        # The validator refuses a decision for a node that is not waiting.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await graphs.decide(client, sessions, execution_id, "pause", approve=True)
        assert "node pause is not waiting for approval" in str(refused.value.cause)
        await wait_for_approval(client, execution_id, "ask")
        assert (await steps_of(sessions, execution_id))["ask"].status == "running"
        decided = await graphs.decide(client, sessions, execution_id, "ask", approve=True, by="dana")
        result = await handle.result()
        await record_history(handle, "graph_approval")
    assert decided.decision == "approved"
    assert result.output == {"decision": "approved", "by": "dana"}
    assert (await steps_of(sessions, execution_id))["pause"].output == {"slept_seconds": 0.2}


async def test_a_rejection_fails_the_approval_node(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await apply(sessions, APPROVAL)
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "approval", {}, task_queue=task_queue)
        await wait_for_approval(client, execution_id, "ask")
        await graphs.decide(client, sessions, execution_id, "ask", approve=False, by="dana", note="not yet")
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "node ask (approval) failed: rejected by dana: not yet" in str(failure.value.cause)
    assert (await graphs.run_status(sessions, execution_id))["failed_node_id"] == "ask"


async def test_an_approval_times_out(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    definition = graph(
        "approval-timeout",
        [
            node("start", "start"),
            node("ask", "approval", timeout_seconds=0.5),
            node("later", "approval", timeout_seconds=0.5, on_timeout="continue"),
            node("end", "end"),
        ],
        [("start", "ask"), ("start", "later"), ("ask", "end"), ("later", "end")],
    )
    strict = definition.model_copy(update={"nodes": [n for n in definition.nodes if n.id != "later"]})
    strict.edges = [e for e in definition.edges if "later" not in (e.source, e.target)]
    lenient = definition.model_copy(
        update={"name": "approval-lenient", "nodes": [n for n in definition.nodes if n.id != "ask"]}
    )
    lenient.edges = [e for e in definition.edges if "ask" not in (e.source, e.target)]
    await apply(sessions, strict)
    await apply(sessions, lenient)
    async with make_worker():
        _, strict_run = await graphs.start_run(client, sessions, "approval-timeout", {}, task_queue=task_queue)
        _, lenient_run = await graphs.start_run(client, sessions, "approval-lenient", {}, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await strict_run.result()
        lenient_result = await lenient_run.result()
    assert "node ask (approval) failed: no decision within 0.5 s" in str(failure.value.cause)
    assert lenient_result.output["later"]["decision"] == "timed_out"


async def test_cancel_a_run(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await apply(
        sessions, graph("sleepy", [node("start", "start"), node("nap", "delay", seconds=600)], [("start", "nap")])
    )
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "sleepy", {}, task_queue=task_queue)
        for _ in range(100):
            if "nap" in await steps_of(sessions, execution_id):
                break
            await asyncio.sleep(0.05)
        await graphs.cancel_run(client, sessions, execution_id)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    status = await graphs.run_status(sessions, execution_id)
    assert status["status"] == "cancelled"
    assert (await steps_of(sessions, execution_id))["nap"].error == "cancelled with the run"
    with pytest.raises(ConflictError):
        await graphs.retry_run(client, sessions, execution_id, task_queue=task_queue)


async def test_an_unknown_node_type_at_run_time_fails_at_once(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Stored without validation, as a definition from a newer release could be.
    async with unit_of_work(sessions) as session:
        await DefinitionRepository().add_version(
            "future",
            graph={
                "name": "future",
                "nodes": [node("start", "start"), node("warp", "teleport")],
                "edges": [{"from": "start", "to": "warp"}],
            },
            description="",
            session=session,
        )
    async with make_worker():
        execution_id, handle = await graphs.start_run(client, sessions, "future", {}, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), timeout=30)
    assert "node warp (teleport) failed: unknown node type 'teleport'" in str(failure.value.cause)
    assert (await graphs.run_status(sessions, execution_id))["status"] == "failed"


# -- outside writes and retries -------------------------------------------------------------

OUTSIDE = graph(
    "outside",
    [
        node("start", "start", required=["name"]),
        node("say", "slack_message", channel="C0PRODUCT", thread_ts="1718010000.000100", text="hello {{ input.name }}"),
        node(
            "page", "notion_page", database_id=NOTION_DATABASE, title="Task for {{ input.name }}", body="from a graph"
        ),
        node("row", "sheets_append", spreadsheet_id=SPREADSHEET_ID, sheet="Signed", values=["{{ input.name }}", 1]),
        node("end", "end"),
    ],
    [("start", "say"), ("say", "page"), ("page", "row"), ("row", "end")],
)


async def test_each_outside_write_retried_after_its_write_happens_once(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    for service, operation in (
        ("slack", "chat.postMessage"),
        ("notion", "pages.create"),
        ("sheets", "spreadsheets.values.append"),
    ):
        await sandbox.set_fault(service, operation, fail_after_write="error", times=1)
    await apply(sessions, OUTSIDE)
    async with make_worker():
        execution_id, handle = await graphs.start_run(
            client, sessions, "outside", {"name": "ada"}, task_queue=task_queue
        )
        result = await handle.result()
        await record_history(handle, "graph_outside")
    messages = [m for m in await sandbox.created("slack", "messages") if m.get("text") == "hello ada"]
    pages = await sandbox.created("notion", "pages")
    rows = [r for r in await sandbox.created("sheets", "rows") if r["values"][0] == "ada"]
    assert (len(messages), len(pages), len(rows)) == (1, 1, 1)
    steps = await steps_of(sessions, execution_id)
    assert [steps[n].attempts for n in ("say", "page", "row")] == [2, 2, 2]
    assert result.output["row"]["created"] is False  # the second attempt found its row


async def test_retry_from_the_failed_node_reuses_completed_outputs(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    definition = graph(
        "retryable",
        [
            node("start", "start"),
            node("say", "slack_message", channel="C0PRODUCT", thread_ts="1718010000.000100", text="once"),
            node("prep", "transform", set={"n": 1}),
            {
                **node("row", "sheets_append", spreadsheet_id=SPREADSHEET_ID, sheet="Signed", values=["retry"]),
                "retry": {"maximum_attempts": 1},
            },
            node("end", "end"),
        ],
        [("start", "say"), ("start", "prep"), ("say", "row"), ("prep", "row"), ("row", "end")],
    )
    await apply(sessions, definition)
    await sandbox.set_fault("sheets", "spreadsheets.values.append", error_rate=1.0)
    async with make_worker():
        failed_id, handle = await graphs.start_run(client, sessions, "retryable", {}, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await sandbox.clear_faults()
        retry_id, retry = await graphs.retry_run(client, sessions, failed_id, task_queue=task_queue)
        result = await retry.result()
        await record_history(retry, "graph_retry")
    assert result.nodes_reused == ["prep", "say"]
    assert result.nodes_run == ["row", "end"]
    steps = await steps_of(sessions, retry_id)
    assert steps["say"].reused_from is not None and steps["say"].attempts == 0
    assert steps["row"].status == "completed"
    assert len([m for m in await sandbox.created("slack", "messages") if m.get("text") == "once"]) == 1
    assert len([r for r in await sandbox.created("sheets", "rows") if r["values"][0] == "retry"]) == 1
    status = await graphs.run_status(sessions, retry_id)
    assert status["retried_from"] == failed_id and status["status"] == "completed"
    with pytest.raises(ConflictError):
        await graphs.retry_run(client, sessions, retry_id, task_queue=task_queue)


async def test_cli_apply_run_and_status(
    settings: Settings, make_worker, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "linear.yaml"
    path.write_text(json.dumps(LINEAR))
    async with make_worker():
        applied = await intake_cli(settings, "graph", "apply", str(path), "--json")
        assert applied.returncode == 0, applied.stderr
        assert json.loads(applied.stdout)["version"] == 1
        ran = await intake_cli(settings, "graph", "run", "ok", "--input", '{"x": 1}', "--wait", "--json")
        assert ran.returncode == 0, ran.stderr
        execution_id = json.loads(ran.stdout)["execution_id"]
        shown = await intake_cli(settings, "graph", "status", execution_id, "--json")
        retried = await intake_cli(settings, "graph", "retry", execution_id)
        cancelled = await intake_cli(settings, "graph", "cancel", "not-an-id")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "completed"
    assert retried.returncode == 2 and "only a failed one can be retried" in retried.stderr, retried.stderr
    assert cancelled.returncode == 2 and cancelled.stderr.startswith("error: 'not-an-id' is not an execution id")
    bad = await intake_cli(settings, "graph", "run", "ok", "--input", "[1]")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --input must be a JSON object"), bad.stderr


# -- the examples ---------------------------------------------------------------------------


async def test_example_slack_mention_to_discussion_approval_and_sheets_row(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
) -> None:
    await apply(sessions, graphs.validate_file(EXAMPLES / "slack-mention-to-sheet.yaml"))
    run_input = {
        "team_id": team,
        "channel": "C0PRODUCT",
        "thread_ts": "1718010000.000100",
        "spreadsheet_id": SPREADSHEET_ID,
        "sheet": "Signed",
    }
    async with make_worker():
        execution_id, handle = await graphs.start_run(
            client, sessions, "slack-mention-to-sheet", run_input, task_queue=task_queue
        )
        await wait_for_approval(client, execution_id, "review")
        await graphs.decide(client, sessions, execution_id, "review", approve=True, by="lead")
        result = await handle.result()
        await record_history(handle, "graph_slack_to_sheet")
    steps = await steps_of(sessions, execution_id)
    discussion = steps["discuss"].output or {}
    assert result.output["discussion_id"] == discussion["discussion_id"]
    assert result.output["tasks"] == len(discussion["task_ids"]) > 0
    rows = [r["values"] for r in await sandbox.created("sheets", "rows")]
    assert rows == [
        [
            "C0PRODUCT:1718010000.000100",
            discussion["discussion_id"],
            len(discussion["task_ids"]),
            "lead",
            f"graph:{execution_id}:log",
        ]
    ]


async def test_example_daily_digest_posts_only_when_the_feed_has_items(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    from aiohttp import web

    feeds = {"/busy": {"items": [{"title": "a"}, {"title": "b"}]}, "/quiet": {"items": []}}

    async def feed(request: web.Request) -> web.Response:
        return web.json_response(feeds[request.path])

    app = web.Application()
    app.router.add_get("/{name}", feed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await apply(sessions, graphs.validate_file(EXAMPLES / "daily-digest.yaml"))
        async with make_worker():
            outputs = {}
            for name in feeds:
                run_input = {
                    "feed_url": f"http://127.0.0.1:{port}{name}",
                    "channel": "C0PRODUCT",
                    "thread_ts": "1718020000.000100",
                }
                execution_id, handle = await graphs.start_run(
                    client, sessions, "daily-digest", run_input, task_queue=task_queue
                )
                outputs[name] = ((await handle.result()).output, await steps_of(sessions, execution_id))
    finally:
        await runner.cleanup()
    assert outputs["/busy"][0] == {"count": 2} and outputs["/quiet"][0] == {"count": 0}
    assert outputs["/busy"][1]["quiet"].status == "skipped" and outputs["/quiet"][1]["post"].status == "skipped"
    posted = [m["text"] for m in await sandbox.created("slack", "messages")]
    assert posted == ["Today's digest: 2 new (a, b)"]


async def test_example_parallel_notify_writes_each_once_and_joins(
    client: Client,
    make_worker,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
) -> None:
    await apply(sessions, graphs.validate_file(EXAMPLES / "parallel-notify.yaml"))
    run_input = {
        "title": "Fix the door",
        "database_id": NOTION_DATABASE,
        "channel": "C0PRODUCT",
        "thread_ts": "1718010000.000100",
        "spreadsheet_id": SPREADSHEET_ID,
        "sheet": "Signed",
    }
    async with make_worker():
        _, handle = await graphs.start_run(client, sessions, "parallel-notify", run_input, task_queue=task_queue)
        result = await handle.result()
    summary = result.output["summary"]
    assert summary["page_url"] and summary["message_ts"] and summary["sheet_row"] >= 2
    assert len(await sandbox.created("notion", "pages")) == 1
    assert len(await sandbox.created("slack", "messages")) == 1
    assert len(await sandbox.created("sheets", "rows")) == 1


async def test_a_schedule_runs_the_latest_version(
    client: Client, make_worker, task_queue: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    name = f"scheduled-{uuid.uuid4().hex[:6]}"
    await apply(sessions, GraphDefinition.model_validate({**LINEAR, "name": name}))
    handle = await graphs.schedule_runs(
        client, sessions, name, {"x": 1}, every=timedelta(days=1), task_queue=task_queue
    )
    try:
        async with make_worker():
            await handle.trigger()
            for _ in range(200):
                runs = await graphs.executions_of(sessions, name)
                if runs and runs[0]["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
    finally:
        await graphs.unschedule_runs(client, name)
    assert [(r["version"], r["status"]) for r in runs] == [(1, "completed")]
    status = await graphs.run_status(sessions, runs[0]["execution_id"])
    assert status["input"] == {"x": 1} and status["workflow_id"].startswith(f"graph-scheduled/{name}")
