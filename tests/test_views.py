"""The team-scoped, paginated reads (client/views.py) the admin API and the dashboard share."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from client import views
from client.signals import register_user
from core.errors import InvalidInputError, NotFoundError
from db.models.work_orders import ExportJob, WorkOrder
from db.repositories.work_orders import WorkspaceRepository
from db.uow import unit_of_work
from tests.admin_data import add_discussions, add_work_items, walk


async def test_a_cursor_walk_returns_every_discussion_and_job_once_newest_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine = await add_discussions(sessions, "team-a", 7)
    await add_discussions(sessions, "team-b", 3)

    async def read_discussions(**kw: Any) -> Any:
        return await views.list_discussions(sessions, team_id="team-a", **kw)

    walked = await walk(read_discussions, 3)
    assert sorted(d.id for d in walked) == sorted(mine)
    assert [d.created_at for d in walked] == sorted((d.created_at for d in walked), reverse=True)

    async def read_jobs(**kw: Any) -> Any:
        return await views.list_jobs(sessions, team_id="team-a", **kw)

    jobs = await walk(read_jobs, 2)
    assert len(jobs) == 7 and len({j.id for j in jobs}) == 7
    slack = await walk(read_jobs, 2, source_type="slack")
    assert {j.source_type for j in slack} == {"slack"} and len(slack) == 3


async def test_another_teams_rows_are_not_found_like_unknown_ones(sessions: async_sessionmaker[AsyncSession]) -> None:
    [theirs] = await add_discussions(sessions, "team-b", 1, status="failed")
    with pytest.raises(NotFoundError, match="no discussion"):
        await views.get_discussion(sessions, team_id="team-a", discussion_id=theirs)
    detail = await views.get_discussion(sessions, team_id="team-b", discussion_id=theirs)
    assert [j.status for j in detail.jobs] == ["failed"]
    job = await views.get_job(sessions, team_id="team-b", job_id=detail.jobs[0].id)
    assert job.error == "boom" and job.error_stack == "Traceback ..."
    with pytest.raises(NotFoundError, match="no job"):
        await views.get_job(sessions, team_id="team-a", job_id=detail.jobs[0].id)


async def test_filters_refuse_unknown_values_naming_the_allowed_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(InvalidInputError, match="status 'done' is not one of: pending, processing, completed, failed"):
        await views.list_jobs(sessions, team_id="t", status="done")
    with pytest.raises(InvalidInputError, match="stage 'x' is not one of: ingestion, thread_building"):
        await views.list_jobs(sessions, team_id="t", stage="x")
    with pytest.raises(InvalidInputError, match="cursor 'garbage' is not one this list gave"):
        await views.list_jobs(sessions, team_id="t", cursor="garbage")
    with pytest.raises(InvalidInputError, match="limit must be from 1 to 200"):
        await views.list_jobs(sessions, team_id="t", limit=0)


async def test_the_approval_queue_and_audit_log_are_the_teams_users_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await register_user(sessions, user_id="alice", mailbox="alice@example.com", team_id="team-a")
    await register_user(sessions, user_id="bob", mailbox="bob@example.com", team_id="team-b")
    await register_user(sessions, user_id="nobody", mailbox="nobody@example.com")
    mine = await add_work_items(sessions, "alice", 5)
    theirs = await add_work_items(sessions, "bob", 2)
    await add_work_items(sessions, "nobody", 2)

    async def read_queue(**kw: Any) -> Any:
        return await views.approval_queue(sessions, team_id="team-a", **kw)

    queue = await walk(read_queue, 2)
    assert sorted(i.action_id for i in queue) == sorted(mine)
    assert [i.importance_score for i in queue] == sorted((i.importance_score for i in queue), reverse=True)

    async def read_audit(**kw: Any) -> Any:
        return await views.audit_log(sessions, team_id="team-a", **kw)

    audit = await walk(read_audit, 2)
    assert len(audit) == 5 and {e.user_id for e in audit} == {"alice"}
    page = await views.audit_log(sessions, team_id="team-a", target_type="work_item", target_id=audit[0].target_id)
    assert [c.model_dump() for c in page.counts] == [
        {"target_type": "work_item", "action": "work_item.queued", "count": 1}
    ]
    with pytest.raises(NotFoundError):
        await views.require_action(sessions, team_id="team-a", action_id=theirs[0])
    assert await views.require_action(sessions, team_id="team-b", action_id=theirs[0]) == theirs[0]


async def test_work_orders_and_export_jobs_are_the_teams_workspaces_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as session:
        ours, _ = await WorkspaceRepository().get_or_create(session=session, slug="ours", team_id="team-a")
        other, _ = await WorkspaceRepository().get_or_create(session=session, slug="other", team_id="team-b")
        for workspace, n in ((ours, 5), (other, 2)):
            for i in range(n):
                wo = WorkOrder(workspace_id=workspace.id, work_order_number=f"WO-{i}")
                session.add(wo)
                await session.flush()
                session.add(
                    ExportJob(
                        workspace_id=workspace.id,
                        kind="WORK_ORDER",
                        work_order_id=wo.id,
                        status="FAILED" if i == 0 else "PENDING",
                    )
                )
        await session.flush()

    async def read(**kw: Any) -> Any:
        return await views.list_work_orders(sessions, team_id="team-a", **kw)

    orders = await walk(read, 2)
    assert len(orders) == 5 and {o.workspace for o in orders} == {"ours"}
    assert all(o.export is not None for o in orders)
    status = await views.export_status(sessions, team_id="team-a")
    assert status.counts == {"PENDING": 4, "PROCESSING": 0, "DONE": 0, "FAILED": 1}
    assert [j.workspace for j in status.failed] == ["ours"]
    theirs = (await views.list_export_jobs(sessions, team_id="team-b")).items[0]
    with pytest.raises(NotFoundError):
        await views.get_export_job(sessions, team_id="team-a", job_id=theirs.id)
    detail = await views.get_work_order(sessions, team_id="team-a", work_order_id=orders[0].id)
    assert detail.sources == [] and detail.signed_match is None


def test_the_filter_types_name_exactly_the_values_the_tables_allow() -> None:
    """The API's enums (the Literal types) and the tables' CHECK constraints list the same values."""
    from typing import get_args

    from db.models import discussions, work_orders

    assert get_args(views.DiscussionStatus) == discussions.DISCUSSION_STATUSES
    assert get_args(views.JobStatus) == discussions.JOB_STATUSES
    assert get_args(views.JobStage) == discussions.JOB_STAGES
    assert get_args(views.SourceType) == discussions.SOURCE_TYPES
    assert get_args(views.WorkOrderStatus) == work_orders.WORK_ORDER_STATUSES
    assert get_args(views.ExportStatus) == work_orders.EXPORT_STATUSES
