"""Schema-driven fuzzing of the API: schemathesis reads /openapi.json and sends what it describes
(and, in negative mode, what it does not) with a live team token, so requests reach the handlers.

No answer may be a 5xx, and every answer must be one the document lists for the route, with the
content type and body schema it gives (problem details included). Bounded: a few examples per
operation, so the run takes seconds.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from client import views
from client.signals import register_user
from core.settings import Settings
from tests.admin_data import add_discussions, add_work_items, add_work_orders

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
EXAMPLES_PER_OPERATION = 5
# An upper bound only: the run ends when every operation had its examples (seconds on an idle machine).
TIME_BUDGET_SECONDS = 120


@pytest.fixture
async def served_api(settings: Settings) -> AsyncIterator[str]:
    """The real app served over HTTP on a free loopback port, in this test's event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises why it did not start
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_off_schema_answer(
    served_api: str,
    sessions: async_sessionmaker[AsyncSession],
    team: str,
    team_token: dict[str, str],
    tmp_path: Path,
) -> None:
    # Rows for the team, so lists have pages to return.
    # Rows for the team, so lists have pages to return and the lookups of one row find it.
    discussions = await add_discussions(sessions, team, 3)
    await add_discussions(sessions, team, 2, status="failed")
    await register_user(sessions, user_id=f"fuzz-{team}", mailbox="fuzz@example.com", team_id=team)
    await add_work_items(sessions, f"fuzz-{team}", 3)
    orders, export_jobs = await add_work_orders(sessions, f"fuzz-{team[-8:]}", team, 3)
    job = (await views.list_jobs(sessions, team_id=team, limit=1)).items[0]
    item = (await views.approval_queue(sessions, team_id=team, limit=1)).items[0]
    known = {
        "GET /api/v1/discussions/{discussion_id}": {"discussion_id": discussions[0]},
        "GET /api/v1/jobs/{job_id}": {"job_id": job.id},
        "GET /api/v1/work-items/{work_item_id}": {"work_item_id": item.work_item_id},
        "GET /api/v1/work-items/{work_item_id}/timeline": {"work_item_id": item.work_item_id},
        "GET /api/v1/work-orders/{work_order_id}": {"work_order_id": orders[0]},
        "GET /api/v1/export-jobs/{job_id}": {"job_id": export_jobs[0]},
    }
    (tmp_path / "schemathesis.toml").write_text(
        "".join(
            f'[[operations]]\ninclude-name = "{name}"\n'
            + "".join(f'parameters.{key} = "{value}"\n' for key, value in values.items())
            for name, values in known.items()
        )
    )

    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{served_api}/openapi.json",
        "--header",
        f"Authorization:{team_token['Authorization']}",
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "20261202",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        cwd=tmp_path,  # hypothesis keeps its example database here, not in the repository
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"NO_COLOR": "1", "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=TIME_BUDGET_SECONDS)
    finally:
        if process.returncode is None:  # timed out: stop it, it is ours
            process.kill()
            await process.wait()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report
    assert "/api/v1/jobs" in report or "passed" in report.lower(), report
