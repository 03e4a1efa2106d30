"""Every statement behind every dashboard page reads the big tables through an index.

The pages run for real (the app in process, its own engine) over rows seeded by
db/dashboard_seed.py, while db/plans.py records each SELECT with its parameters; then each
is EXPLAINed with sequential scans disabled. PostgreSQL still picks a sequential scan where
no index can serve an access, so none may be left on a big table. (At this test's size the
planner would often scan small tables anyway; bench/dashboard.py shows the plans and times
at 100,000 work items.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from client import pages, views
from client.api_tokens import create_token
from core.settings import Settings
from db.dashboard_seed import analyze, seed
from db.plans import captured, scans

BIG_TABLES = {
    "work_items",
    "gate_evaluations",
    "proposed_actions",
    "workflow_runs",
    "workflow_events",
    "audit_logs",
    "gmail_drafts",
    "jobs",
    "discussions",
    "tasks",
    "work_orders",
    "work_order_sources",
    "extraction_runs",
    "export_jobs",
    "signed_match",
    "executions",
    "execution_steps",
    "job_attempts",
    "timers",
    "execution_history",
    "batches",
    "batch_chunks",
    "error_rows",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OLDER = re.compile(r'href="(/ui/(?:jobs|inbox|runs|work-orders)\?[a-z_]*cursor=[^"#]+)')


async def test_every_page_query_uses_an_index_on_the_big_tables(settings: Settings, engine: AsyncEngine) -> None:
    app = create_app(settings)
    until = datetime.now(UTC)
    since = until - timedelta(days=10)
    async with app.router.lifespan_context(app):
        services = app.state.services
        seeded = await seed(
            services.engine,
            teams=["plan-main", "plan-other"],
            work_items=3000,
            jobs=400,
            work_orders=400,
            mirrored_runs=400,
            batch_imports=100,
        )
        assert seeded.run is not None and seeded.batch_id is not None
        await analyze(services.engine)
        token, _ = await create_token(services.sessions, team_id="plan-main")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            form = await http.get("/ui/sign-in")
            found = CSRF.search(form.text)
            assert found
            await http.post("/ui/sign-in", data={"token": token, "csrf_token": found.group(1)})
            paths = [
                "/ui/inbox",
                "/ui/inbox/queue",
                f"/ui/items/{seeded.work_item_id}",
                "/ui/jobs",
                "/ui/jobs?status=failed",
                "/ui/jobs?stage=task_creation&status=failed",
                f"/ui/jobs/{seeded.job_id}",
                f"/ui/discussions/{seeded.discussion_id}",
                "/ui/work-orders",
                f"/ui/work-orders/{seeded.work_order_id}",
                "/ui/runs",
                "/ui/runs?status=failed",
                "/ui/runs?type=DiscussionWorkflow&status=completed",
                f"/ui/runs?since={since:%Y-%m-%d}&until={until:%Y-%m-%d}",
                "/ui/runs/{}/{}".format(*seeded.run),
                f"/ui/batches/{seeded.batch_id}",
            ]
            with captured(services.engine) as statements:
                for path in paths:
                    page = await http.get(path)
                    assert page.status_code == 200, path
                    paths.extend(link.replace("&amp;", "&") for link in OLDER.findall(page.text) if link not in paths)
        assert any("/ui/jobs?cursor=" in path for path in paths)  # a second page is read too
        assert any("/ui/runs?cursor=" in path for path in paths)
        assert any("/ui/work-orders?batches_cursor=" in path for path in paths)
        distinct = list({statement: parameters for statement, parameters in statements}.items())
        assert len(distinct) >= 15
        unindexed = []
        for statement, parameters in distinct:
            for node, table in await scans(services.engine, statement, parameters, seqscan=False):
                if node == "Seq Scan" and table in BIG_TABLES:
                    unindexed.append(f"{table}: {' '.join(statement.split())[:300]}")
        assert unindexed == []


async def test_the_drafts_read_kind_by_kind_pages_like_the_admin_apis(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(engine, teams=["drafts-main", "drafts-other"], work_items=600, jobs=2, work_orders=2)

    async def every(read: Any) -> list[tuple[Any, Any]]:
        seen: list[tuple[Any, Any]] = []
        cursor = None
        while True:
            page = await read(cursor)
            seen.extend((item.synced_at, item.action_id) for item in page.items)
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    ours = await every(lambda cursor: pages.drafts(sessions, team_id="drafts-main", cursor=cursor))
    theirs = await every(lambda cursor: views.drafts(sessions, team_id="drafts-main", limit=25, cursor=cursor))
    assert len(ours) > 25 * 3 and ours == theirs == sorted(ours, reverse=True)
