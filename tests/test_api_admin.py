"""The admin API against the real app, PostgreSQL and Temporal: team scoping, retries, approvals,
work orders and exports, pagination, and bad input that writes nothing."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from client.api_tokens import create_token
from client.discussions import start_discussion
from client.signals import queue_tool_call, register_user
from client.work_orders import start_file_ingest, workspace_spec
from contracts.approvals import QueueToolCallInput
from contracts.discussions import DiscussionInput
from core.settings import Settings
from db.models.signals import AuditLog, FeedbackEntry, ProposedAction, SignalUser
from db.models.work_orders import ExportJob, Workspace
from db.repository import Repository
from sandbox.control import SandboxControl
from sandbox.seed_mail import WORK_ORDERS, work_order_pdf
from tests.admin_data import add_discussions, add_work_items, add_work_orders
from tests.helpers import intake_cli

PROBLEM = "application/problem+json"
CHECKOUT = "C0PRODUCT:1718010000.000100"  # a sandbox thread with action items
V1 = "/api/v1"


@pytest.fixture
async def other_token(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A token of another team, which must see none of `team`'s rows."""
    token, _ = await create_token(sessions, team_id=f"other-{uuid.uuid4().hex[:6]}")
    return {"Authorization": f"Bearer {token}"}


async def count(sessions: async_sessionmaker[AsyncSession], model: type, **filters: Any) -> int:
    async with sessions() as session:
        return await Repository(model).count(session=session, **filters)


def assert_problem(response: Any, status: int, *contains: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    for text in contains:
        assert text in body["detail"], body["detail"]
    return body


async def walk(api: Any, path: str, headers: dict[str, str], limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list route, page by page through `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor walk did not end")


# -- discussions and jobs ---------------------------------------------------------------------------


async def test_retry_of_a_failed_discussion_is_202_with_a_new_job_and_422_once_it_completed(
    api: Any,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sandbox: SandboxControl,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
    other_token: dict[str, str],
) -> None:
    await sandbox.set_fault("notion", "pages.create", reject_rate=1.0)
    async with make_worker():
        handle = await start_discussion(
            client, DiscussionInput(team_id=team, source_type="slack", source_thread_id=CHECKOUT), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await sandbox.clear_faults("notion")
        [failed] = (await api.get(f"{V1}/discussions", params={"status": "failed"}, headers=team_token)).json()["items"]
        discussion_id = failed["id"]

        # Another team's token: 404 exactly like an unknown id; nothing started.
        foreign = await api.post(f"{V1}/discussions/{discussion_id}/retry", headers=other_token)
        unknown = await api.post(f"{V1}/discussions/{uuid.uuid4()}/retry", headers=team_token)
        assert_problem(foreign, 404, "no discussion")
        assert_problem(unknown, 404, "no discussion")
        for refused in (foreign, unknown):
            assert re.fullmatch(r"team '[^']+' has no discussion [0-9a-f-]{36}", refused.json()["detail"])
        assert_problem(await api.post(f"{V1}/discussions/not-a-uuid/retry", headers=team_token), 422, "discussion_id")

        retried = await api.post(f"{V1}/discussions/{discussion_id}/retry", headers=team_token)
        assert retried.status_code == 202, retried.text
        body = retried.json()
        assert body["discussion_id"] == discussion_id and body["job"] is not None
        assert body["job"]["is_retry"] is True and body["job"]["discussion_id"] == discussion_id
        await client.get_workflow_handle(body["workflow_id"], run_id=body["run_id"]).result()

        completed = await api.post(f"{V1}/discussions/{discussion_id}/retry", headers=team_token)
        assert_problem(completed, 422, "is completed, not failed")

    detail = (await api.get(f"{V1}/discussions/{discussion_id}", headers=team_token)).json()
    assert detail["status"] == "completed"
    assert [(j["status"], j["is_retry"]) for j in detail["jobs"]] == [("completed", True), ("failed", False)]
    assert detail["tasks"] and all(t["notion_page_id"] for t in detail["tasks"])
    failed_job = detail["jobs"][1]
    job = (await api.get(f"{V1}/jobs/{failed_job['id']}", headers=team_token)).json()
    assert job["error"] and job["error_stack"] and job["stage"] == "task_creation"
    assert_problem(await api.get(f"{V1}/jobs/{failed_job['id']}", headers=other_token), 404, "no job")
    assert_problem(await api.get(f"{V1}/discussions/{discussion_id}", headers=other_token), 404, "no discussion")
    assert (await api.get(f"{V1}/discussions", headers=other_token)).json() == {"items": [], "next_cursor": None}


async def test_lists_walk_every_row_once_and_refuse_unknown_filters(
    api: Any, sessions: async_sessionmaker[AsyncSession], team: str, team_token: dict[str, str]
) -> None:
    ids = await add_discussions(sessions, team, 7)
    await add_discussions(sessions, team, 2, status="failed")
    await add_discussions(sessions, "someone-else", 3)

    discussions = await walk(api, f"{V1}/discussions", team_token, 2)
    assert len(discussions) == 9 and len({d["id"] for d in discussions}) == 9
    assert set(map(str, ids)) <= {d["id"] for d in discussions}
    jobs = await walk(api, f"{V1}/jobs", team_token, 4, status="failed")
    assert len(jobs) == 2 and {j["status"] for j in jobs} == {"failed"}
    by_stage = await walk(api, f"{V1}/jobs", team_token, 3, stage="notification", source="slack")
    assert {(j["stage"], j["source_type"]) for j in by_stage} == {("notification", "slack")}

    unknown = await api.get(f"{V1}/jobs", params={"status": "done"}, headers=team_token)
    body = assert_problem(unknown, 422, "query.status", "'pending', 'processing', 'completed' or 'failed'")
    assert body["errors"][0]["field"] == "query.status"
    assert_problem(await api.get(f"{V1}/jobs", params={"stage": "x"}, headers=team_token), 422, "'ai_analysis'")
    assert_problem(await api.get(f"{V1}/discussions", params={"source": "email"}, headers=team_token), 422, "'slack'")
    assert_problem(await api.get(f"{V1}/jobs", params={"statuz": "failed"}, headers=team_token), 422, "statuz")
    assert_problem(await api.get(f"{V1}/jobs", params={"limit": 0}, headers=team_token), 422, "query.limit")
    assert_problem(await api.get(f"{V1}/jobs", params={"limit": 201}, headers=team_token), 422, "query.limit")
    assert_problem(
        await api.get(f"{V1}/jobs", params={"cursor": "not-a-cursor"}, headers=team_token), 422, "is not one this list"
    )
    assert_problem(await api.get(f"{V1}/jobs", headers={"Authorization": "Bearer itk_nope"}), 401)


# -- signals and approvals --------------------------------------------------------------------------


async def queue_draft(client: Client, task_queue: str, user: str, call: str) -> QueueToolCallInput:
    request = QueueToolCallInput(
        user_id=user,
        call_id=call,
        action_type="draft_reply",
        payload={"to": "carol@example.com", "subject": "Renewal", "body": "Draft body"},
        summary=f"reply about {call}",
    )
    await queue_tool_call(client, request, task_queue=task_queue)
    return request


async def test_approving_twice_makes_one_draft_and_answers_the_same_result(
    api: Any,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sandbox: SandboxControl,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
    other_token: dict[str, str],
) -> None:
    await register_user(sessions, user_id=f"alice-{team}", mailbox="alice@example.com", team_id=team)
    async with make_worker():
        await queue_draft(client, task_queue, f"alice-{team}", "c1")
        [item] = (await api.get(f"{V1}/approvals/queue", headers=team_token)).json()["items"]
        action = item["action_id"]
        assert (await api.get(f"{V1}/approvals/queue", headers=other_token)).json()["items"] == []
        assert_problem(await api.post(f"{V1}/actions/{action}/approve", headers=other_token), 404, "no proposed action")

        body = {"payload": {"body": "Yes, let us renew."}}
        first = await api.post(f"{V1}/actions/{action}/approve", json=body, headers=team_token)
        second = await api.post(f"{V1}/actions/{action}/approve", json=body, headers=team_token)
        third = await api.post(f"{V1}/actions/{action}/approve", headers=team_token)
    assert first.status_code == 200, first.text
    assert first.json() == second.json() == third.json()
    assert first.json()["status"] == "executed" and first.json()["provider_id"]
    drafts = await sandbox.created("gmail", "drafts")
    assert len(drafts) == 1 and "Yes, let us renew." in str(drafts[0])

    [made] = (await api.get(f"{V1}/approvals/drafts", headers=team_token)).json()["items"]
    assert (made["action_id"], made["kind"], made["provider_id"]) == (
        action,
        "gmail_draft",
        first.json()["provider_id"],
    )
    [done] = (await api.get(f"{V1}/approvals/processed", headers=team_token)).json()["items"]
    assert (done["work_item_id"], done["status"], done["action_status"]) == (
        item["work_item_id"],
        "completed",
        "executed",
    )
    timeline = (await api.get(f"{V1}/work-items/{item['work_item_id']}/timeline", headers=team_token)).json()
    assert [run["phase"] for run in timeline["items"]] == ["queue", "approve"]
    assert timeline["items"][1]["events"][0]["kind"] == "action.approved"
    audit = (
        await api.get(
            f"{V1}/audit", params={"target_type": "work_item", "target_id": item["work_item_id"]}, headers=team_token
        )
    ).json()
    assert [e["action"] for e in audit["items"]] == ["action.approved", "work_item.queued"]
    assert {(c["action"], c["count"]) for c in audit["counts"]} == {("action.approved", 1), ("work_item.queued", 1)}
    for path in (f"work-items/{item['work_item_id']}", f"work-items/{item['work_item_id']}/timeline"):
        assert_problem(await api.get(f"{V1}/{path}", headers=other_token), 404, "no work item")


async def test_reject_with_a_note_and_feedback_are_recorded(
    api: Any,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sandbox: SandboxControl,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
) -> None:
    user = f"bob-{team}"
    await register_user(sessions, user_id=user, mailbox="bob@example.com", team_id=team)
    async with make_worker():
        await queue_draft(client, task_queue, user, "r1")
        await queue_draft(client, task_queue, user, "f1")
        queue = (await api.get(f"{V1}/approvals/queue", headers=team_token)).json()["items"]
        by_call = {i["summary"].split()[-1]: i for i in queue}
        rejected, rated = by_call["r1"], by_call["f1"]

        answer = await api.post(
            f"{V1}/actions/{rejected['action_id']}/reject", json={"note": "not needed"}, headers=team_token
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "dismissed"
        again = await api.post(f"{V1}/actions/{rejected['action_id']}/approve", headers=team_token)
        assert_problem(again, 409, "was rejected")

        given = await api.post(
            f"{V1}/actions/{rated['action_id']}/feedback",
            json={"rating": "positive", "note": "spot on"},
            headers=team_token,
        )
        assert given.status_code == 200, given.text
        assert given.json() == {"work_item_id": rated["work_item_id"], "rating": "positive"}

    item = (await api.get(f"{V1}/work-items/{rejected['work_item_id']}", headers=team_token)).json()
    assert item["status"] == "dismissed" and item["action"]["status"] == "dismissed"
    assert (item["feedback"]["rating"], item["feedback"]["note"]) == ("negative", "not needed")
    item = (await api.get(f"{V1}/work-items/{rated['work_item_id']}", headers=team_token)).json()
    assert item["status"] == "awaiting_approval"
    assert (item["feedback"]["rating"], item["feedback"]["note"]) == ("positive", "spot on")
    assert await sandbox.created("gmail", "drafts") == []
    processed = await walk(api, f"{V1}/approvals/processed", team_token, 1, status="dismissed")
    assert [p["work_item_id"] for p in processed] == [rejected["work_item_id"]]


async def test_bad_bodies_are_4xx_with_a_reason_and_write_nothing(
    api: Any,
    client: Client,
    make_worker: Any,
    task_queue: str,
    sandbox: SandboxControl,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
) -> None:
    await register_user(sessions, user_id=f"carol-{team}", mailbox="carol@example.com", team_id=team)
    [action] = await add_work_items(sessions, f"carol-{team}", 1)
    url = f"{V1}/actions/{action}"
    audit_before = await count(sessions, AuditLog)
    async with make_worker():
        cases = [
            (
                await api.post(
                    f"{url}/approve",
                    content=b'{"payload": ',
                    headers={**team_token, "content-type": "application/json"},
                ),
                422,
                "JSON",
            ),
            (
                await api.post(
                    f"{url}/approve",
                    content=b"payload=x",
                    headers={**team_token, "content-type": "application/x-www-form-urlencoded"},
                ),
                415,
                "application/json",
            ),
            (
                await api.post(f"{url}/reject", content=b"note", headers={**team_token, "content-type": "text/plain"}),
                415,
                "text/plain",
            ),
            (
                await api.post(f"{url}/approve", json={"payload": {"body": "x"}, "extra": 1}, headers=team_token),
                422,
                "body.extra",
            ),
            (await api.post(f"{url}/reject", json={"note": "x", "by": "me"}, headers=team_token), 422, "body.by"),
            (await api.post(f"{url}/feedback", json={"note": "x"}, headers=team_token), 422, "body.rating"),
            (
                await api.post(f"{url}/feedback", json={"rating": "meh"}, headers=team_token),
                422,
                "'positive' or 'negative'",
            ),
            (await api.post(f"{url}/feedback", json=[1, 2], headers=team_token), 422, "body"),
            (await api.post(f"{url}/approve", json={"payload": {"bogus": 1}}, headers=team_token), 422, "'bogus'"),
            (await api.post(f"{url}/approve", json={"payload": {"to": 5}}, headers=team_token), 422, "to"),
            (await api.post(f"{url}/approve", json={"payload": "body"}, headers=team_token), 422, "body.payload"),
            (await api.post(f"{V1}/actions/42/approve", headers=team_token), 422, "action_id"),
            (
                await api.post(
                    f"{url}/approve",
                    content=b"x" * (2 << 20),
                    headers={**team_token, "content-type": "application/json"},
                ),
                413,
                "larger",
            ),
        ]
    for response, status, reason in cases:
        assert_problem(response, status, reason)
    async with sessions() as session:
        stored = await Repository(ProposedAction).find_by_id(action, session=session)
    assert stored is not None and stored.status == "pending" and stored.result is None
    assert await count(sessions, AuditLog) == audit_before
    assert await count(sessions, FeedbackEntry) == 0
    assert await sandbox.created("gmail", "drafts") == []


# -- work orders and exports ------------------------------------------------------------------------


async def test_work_orders_ingested_for_a_team_are_its_preview_with_sources_and_runs(
    api: Any,
    client: Client,
    make_worker: Any,
    task_queue: str,
    team: str,
    team_token: dict[str, str],
    other_token: dict[str, str],
    tmp_path: Path,
) -> None:
    pdf = tmp_path / "WO-10042.pdf"
    pdf.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    spec = workspace_spec(f"ws-{uuid.uuid4().hex[:8]}", team_id=team)
    async with make_worker():
        handle = await start_file_ingest(
            client, pdf, workspace=spec, kind="workorder", task_queue=task_queue, drain_exports=False
        )
        await handle.result()
    [order] = (await api.get(f"{V1}/work-orders", headers=team_token)).json()["items"]
    assert (order["workspace"], order["work_order_number"]) == (spec.slug, "WO-10042")
    detail = (await api.get(f"{V1}/work-orders/{order['id']}", headers=team_token)).json()
    assert [s["filename"] for s in detail["sources"]] == ["WO-10042.pdf"]
    assert [r["outcome"] for r in detail["extraction_runs"]] == ["SUCCEEDED"]
    assert detail["signed_match"] is None
    assert (await api.get(f"{V1}/work-orders", headers=other_token)).json()["items"] == []
    assert_problem(await api.get(f"{V1}/work-orders/{order['id']}", headers=other_token), 404, "no work order")


async def test_a_failed_export_job_is_retried_with_202_and_others_are_refused(
    api: Any,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
    other_token: dict[str, str],
) -> None:
    _, (failed, done, *_) = await add_work_orders(sessions, f"ws-{uuid.uuid4().hex[:8]}", team, 25, failed=1)
    preview = (await api.get(f"{V1}/work-orders", headers=team_token)).json()
    assert len(preview["items"]) == 20 and preview["next_cursor"]
    assert len(await walk(api, f"{V1}/work-orders", team_token, 7)) == 25
    status = (await api.get(f"{V1}/exports/status", headers=team_token)).json()
    assert status["counts"] == {"PENDING": 0, "PROCESSING": 0, "DONE": 24, "FAILED": 1}
    assert [j["id"] for j in status["failed"]] == [str(failed)]
    assert (await api.get(f"{V1}/exports/status", headers=other_token)).json()["counts"]["FAILED"] == 0
    jobs = await walk(api, f"{V1}/export-jobs", team_token, 10, status="DONE")
    assert len(jobs) == 24

    assert_problem(await api.post(f"{V1}/export-jobs/{failed}/retry", headers=other_token), 404, "no export job")
    assert_problem(await api.get(f"{V1}/export-jobs/{failed}", headers=other_token), 404, "no export job")
    assert_problem(await api.post(f"{V1}/export-jobs/{done}/retry", headers=team_token), 409, "not FAILED")
    assert_problem(await api.post(f"{V1}/export-jobs/{uuid.uuid4()}/retry", headers=team_token), 404)
    assert_problem(await api.get(f"{V1}/export-jobs", params={"status": "failed"}, headers=team_token), 422, "'FAILED'")

    retried = await api.post(f"{V1}/export-jobs/{failed}/retry", headers=team_token)
    assert retried.status_code == 202, retried.text
    assert retried.json()["job_id"] == str(failed)
    drain = client.get_workflow_handle(retried.json()["drain_workflow_id"])
    assert (await drain.describe()).status is not None
    await drain.terminate("the test is done")  # no worker serves this test's queue
    async with sessions() as session:
        assert await Repository(ExportJob).count(session=session, status="FAILED") == 1


# -- team ownership from the command line ----------------------------------------------------------


async def test_the_cli_gives_users_and_workspaces_a_team_and_refuses_a_malformed_one(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], team: str, tmp_path: Path
) -> None:
    added = await intake_cli(settings, "ingest", "user-add", "dana", "--mailbox", "dana@example.com", "--team", team)
    assert added.returncode == 0, added.stderr
    again = await intake_cli(settings, "ingest", "user-add", "dana", "--mailbox", "dana@example.com")
    assert again.returncode == 0, again.stderr
    async with sessions() as session:
        user = await Repository(SignalUser).find_by_id("dana", session=session)
    assert user is not None and user.team_id == team  # left out: kept

    bad_user = await intake_cli(settings, "ingest", "user-add", "erin", "--mailbox", "e@example.com", "--team", "a b")
    pdf = tmp_path / "WO.pdf"
    pdf.write_bytes(work_order_pdf(WORK_ORDERS[0]))
    bad_workspace = await intake_cli(settings, "workorder", "ingest", str(pdf), "-w", "ops", "--team", "a/b")
    for refused in (bad_user, bad_workspace):
        assert refused.returncode == 2
        assert refused.stderr.startswith("error: team id 'a") and "letters, digits" in refused.stderr
    async with sessions() as session:
        assert await Repository(SignalUser).find_by_id("erin", session=session) is None
        assert await Repository(Workspace).count(session=session) == 0
