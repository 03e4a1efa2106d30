"""`intake up` / `intake down`: the embedded stack as a user runs it, in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from temporalio.client import Client

from client.signals import active_users
from db.engine import create_engine, create_sessionmaker
from stack.pollers import has_poller
from tests.helpers import run_shown_by


def http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def stack_env(state_dir: Path) -> dict[str, str]:
    """The environment of a user's shell: nothing configured, the stack found through its state dir."""
    env = {**os.environ, "INTAKE_STATE_DIR": str(state_dir)}
    for name in ("DATABASE_URL", "TEMPORAL_ADDRESS", "SANDBOX_URL", "TEMPORAL_UI_URL"):
        env.pop(name, None)
    return env


def intake(*args: str, state_dir: Path, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=stack_env(state_dir),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )


def wait_until_up(process: subprocess.Popen[str], timeout: float = 90) -> list[str]:
    assert process.stdout is not None  # intake() pipes it
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "intake is up" in line:
            return lines
    raise AssertionError("intake up did not come up:\n" + "\n".join(lines))


def alive(pids: dict[str, int]) -> dict[str, int]:
    return {
        name: pid
        for name, pid in pids.items()
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    }


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"
    # Whatever a failed test left behind goes, so no process outlives the test run.
    stack_file = tmp_path / "state" / "stack.json"
    if stack_file.exists():
        for pid in json.loads(stack_file.read_text()).get("pids", {}).values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    pg = tmp_path / "state" / "postgres"
    if (pg / "postmaster.pid").exists():
        from stack.postgres import EmbeddedPostgres

        EmbeddedPostgres(pg).stop()


async def test_up_serves_the_ui_runs_a_worker_and_down_leaves_nothing(state_dir: Path) -> None:
    up = intake("up", state_dir=state_dir)
    try:
        output = wait_until_up(up)
        state = json.loads((state_dir / "stack.json").read_text())
        assert await asyncio.to_thread(http_status, state["temporal_ui_url"]) == 200
        assert await has_poller(state["temporal_address"], "default", "intake")
        assert any(state["temporal_ui_url"] in line for line in output)
        # The API: its URL printed on the "up" line and recorded, and it answers ready.
        assert any("intake is up" in line and state["api_url"] in line for line in output)
        assert await asyncio.to_thread(http_status, state["api_url"] + "/readyz") == 200
        # The dashboard's link is printed too, and opens (its sign-in page, through a redirect).
        dashboard = state["api_url"] + "/ui/"
        assert any("intake is up" in line and dashboard in line for line in output)
        assert await asyncio.to_thread(http_status, dashboard) == 200
        assert set(state["pids"]) >= {"postgres", "temporal", "worker", "api"}
        assert alive(state["pids"]) == state["pids"]

        down = intake("down", state_dir=state_dir)
        assert down.wait(60) == 0
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            up.kill()
    assert alive(state["pids"]) == {}
    assert not (state_dir / "stack.json").exists()
    # The data stays for the next run.
    assert (state_dir / "postgres" / "PG_VERSION").exists()
    assert (state_dir / "temporal.db").exists()


def test_a_crashed_worker_is_reported_and_everything_stops(state_dir: Path) -> None:
    up = intake("up", state_dir=state_dir)
    try:
        wait_until_up(up)
        pids = json.loads((state_dir / "stack.json").read_text())["pids"]
        os.kill(pids["worker"], signal.SIGKILL)
        assert up.wait(60) != 0
        assert up.stdout is not None
        rest = up.stdout.read()
    finally:
        if up.poll() is None:
            up.kill()
    assert "worker exited with code" in rest
    assert alive(pids) == {}


def test_a_stack_killed_hard_is_cleaned_up_by_the_next_up(state_dir: Path) -> None:
    first = intake("up", state_dir=state_dir)
    wait_until_up(first)
    old = json.loads((state_dir / "stack.json").read_text())["pids"]
    first.kill()  # SIGKILL: no cleanup; its children keep running
    first.wait(10)
    assert alive(old) == old

    second = intake("up", state_dir=state_dir)
    try:
        wait_until_up(second)
        new = json.loads((state_dir / "stack.json").read_text())["pids"]
        assert alive(old) == {}  # the leftovers were stopped, not left to fight over ports and files
        second.send_signal(signal.SIGINT)  # Ctrl-C
        assert second.wait(60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert alive(new) == {}


async def test_the_demo_on_a_running_stack_runs_again_and_every_link_it_prints_opens(state_dir: Path) -> None:
    """`intake up` in one terminal, `intake demo` in another (twice, on the kept data), as the demo says."""

    def demo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "demo", *args],
            env=stack_env(state_dir),
            text=True,
            capture_output=True,
            timeout=600,
        )

    up = intake("up", state_dir=state_dir)
    try:
        wait_until_up(up)
        state = json.loads((state_dir / "stack.json").read_text())
        first = await asyncio.to_thread(demo, "--json")
        second = await asyncio.to_thread(demo)
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        assert alive(state["pids"]) == state["pids"]  # the demo used the stack and left it running

        summary = json.loads(first.stdout)  # the narration went to stderr
        assert "using the running stack" in first.stderr and summary["stack_kept_running"]
        runs = f"{state['temporal_ui_url']}/namespaces/"
        links = [word for word in second.stdout.split() if word.startswith(runs) and "?" not in word]
        links += [value for value in _strings(summary) if value.startswith(runs) and "?" not in value]
        assert len(links) > 20
        for link in links:
            await run_shown_by(link)
        assert second.stdout.splitlines()[-1].startswith("The stack keeps running, so the links above open")

        # The dashboard line: its page opens, and the token it prints is the run's team's.
        line = next(line for line in second.stdout.splitlines() if line.startswith("dashboard: "))
        words = line.split()
        assert words[1] == f"{state['api_url']}/ui/"
        assert await asyncio.to_thread(http_status, words[1]) == 200
        async with httpx.AsyncClient(timeout=10) as http:
            listed = await http.get(
                f"{state['api_url']}/api/v1/jobs?limit=200",
                headers={"Authorization": f"Bearer {words[-1].rstrip(')')}"},
            )
        jobs = listed.json()["items"]
        assert jobs and {job["team_id"] for job in jobs} == {words[-3].removesuffix("'s")}

        # Each run has a team of its own, and the query the demo prints finds that run's discussions only.
        team = summary["discussions"]["team_id"]
        assert f'this run\'s discussions: IntakeTeamId = "{team}"' in first.stderr
        again = next(line for line in second.stdout.splitlines() if line.startswith("team acme-")).split()[1]
        assert again != team
        client = await Client.connect(state["temporal_address"])
        for query, expected in (
            (summary["discussions"]["query"], len(summary["discussions"]["jobs"])),
            (f'IntakeTeamId = "{again}"', len(summary["discussions"]["jobs"])),
        ):
            for _ in range(100):  # visibility follows the runs within moments
                if (await client.count_workflows(query)).count == expected:
                    break
                await asyncio.sleep(0.1)
            assert (await client.count_workflows(query)).count == expected

        # The demos' signal users are kept, inactive: `intake schedules apply` gives them no schedule.
        engine = create_engine(state["database_url"], pool_size=1)
        try:
            demo_users = summary["signals"]["users"]
            assert set(demo_users).isdisjoint(await active_users(create_sessionmaker(engine)))
        finally:
            await engine.dispose()

        down = intake("down", state_dir=state_dir)
        assert down.wait(60) == 0
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            up.kill()


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []
