"""The production topology on the embedded stack: several worker processes on one task queue.

`intake worker --count 3` runs three real worker processes against the test's PostgreSQL,
Temporal and sandbox. 300 discussions are started; a third of the way through, one worker is
killed (-9: nothing reported to Temporal) and another is stopped with SIGTERM (it finishes what
it runs and polls nothing more). Every run completes on what is left, every row and every
outside effect (Notion page, Slack reply) exists once, and the work was spread over the three
workers: each worker's JSON log lines name its identity (the `pid@host` Temporal records for
the tasks it ran) and the activities it ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from client.discussions import start_discussion
from contracts.discussions import DiscussionInput, DiscussionResult
from core.settings import Settings
from db.repositories.discussions import DiscussionRepository, JobRepository, TaskRepository
from sandbox.control import SandboxControl
from sandbox.slack import THREADS
from stack.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
RUNS = 300
WORKERS = 3


class Workers:
    """`intake worker --count N` as a subprocess, its children and their JSON log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log = process, log

    def children(self) -> list[psutil.Process]:
        return sorted(psutil.Process(self.process.pid).children(), key=lambda p: p.pid)

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                found.append(json.loads(raw))
        return found

    def polling(self) -> list[str]:
        """The identities of the workers that poll (they log it), in the order they began."""
        return [line["worker"] for line in self.lines() if "polling" in line["message"]]

    async def until_polling(self, count: int, timeout: float = 90.0) -> list[str]:
        """The identities of the workers once `count` of them poll."""
        deadline = time.monotonic() + timeout
        while True:
            polling = self.polling()
            if len(polling) >= count:
                return polling
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"only {polling} poll: {self.log.read_text()[-3000:]}"
            await asyncio.sleep(0.2)


@pytest.fixture
async def workers(settings: Settings, tmp_path: Path) -> AsyncIterator[Workers]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "INTAKE_TASK_QUEUE": settings.task_queue,
        "SANDBOX_URL": settings.resolved_sandbox_url() or "",
        "INTAKE_STATE_DIR": str(settings.state_dir),
        "OUTSIDE_CALL_TIMEOUT": str(settings.outside_call_timeout),
        "INTAKE_LOG_FORMAT": "json",
        "DB_POOL_SIZE": "5",
    }
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", "--count", str(WORKERS)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = Workers(process, log)
    try:
        yield running
    finally:
        leftovers = running.children() if process.poll() is None else []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for child in leftovers:
            if child.is_running():
                child.kill()


async def post_threads(sandbox: SandboxControl, n: int) -> list[str]:
    """One new Slack thread per discussion, the sandbox's seed threads in turn."""
    return [await sandbox.post_slack_thread(channel, lines) for channel, _, lines in (THREADS[i % 3] for i in range(n))]


async def test_three_workers_run_300_discussions_through_a_kill_and_a_stop(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxControl,
    team: str,
    workers: Workers,
) -> None:
    identities = await workers.until_polling(WORKERS)
    assert len(set(identities)) == WORKERS
    threads = await post_threads(sandbox, RUNS)
    started = time.monotonic()
    handles = await asyncio.gather(
        *(
            start_discussion(
                client,
                DiscussionInput(team_id=team, source_type="slack", source_thread_id=thread),
                task_queue=settings.task_queue,
            )
            for thread in threads
        )
    )
    done = 0

    async def result(handle: Any) -> DiscussionResult:
        nonlocal done
        outcome: DiscussionResult = await handle.result()
        done += 1
        return outcome

    results = asyncio.gather(*(result(handle) for handle in handles))
    while done < RUNS // 3:
        await asyncio.sleep(0.05)
    killed, stopped, survivor = workers.children()
    at = time.monotonic()
    killed.send_signal(signal.SIGKILL)
    stopped.send_signal(signal.SIGTERM)
    completed_before = done
    outcomes: list[DiscussionResult] = await asyncio.wait_for(results, timeout=240)
    finished = time.monotonic()
    print(
        f"{RUNS} discussions on {WORKERS} workers in {finished - started:.1f}s; worker -9 and SIGTERM after "
        f"{completed_before} completed, the rest {finished - at:.1f}s later"
    )
    stopped.wait(timeout=30)
    assert not killed.is_running() and not stopped.is_running()
    by_pid = {int(identity.split("@")[0]): identity for identity in identities}
    stopping = {line["worker"] for line in workers.lines() if line["message"].startswith("stopping")}
    assert stopping == {by_pid[stopped.pid]}  # SIGTERM: a graceful stop; -9: none
    # The killed worker was started again (once, a second later); the one stopped by SIGTERM was not.
    said = workers.log.read_text(errors="replace")
    died = re.search(
        rf"worker (\d) \(pid {killed.pid}\) was killed by SIGKILL after \d+s; starting it again in 1s", said
    )
    assert died, said[-3000:]
    again = re.findall(rf"worker {died.group(1)} started again: pid (\d+)", said)
    assert len(again) == 1 and len(re.findall(r"started again", said)) == 1
    assert (await workers.until_polling(WORKERS + 1))[-1].startswith(f"{again[0]}@")

    # Every run completed, every row once.
    assert len(outcomes) == RUNS and len({o.discussion_id for o in outcomes}) == RUNS
    async with sessions() as session:
        jobs = await JobRepository().count(session=session)
        completed_jobs = await JobRepository().count(session=session, status="completed")
        discussions = await DiscussionRepository().count(session=session, status="completed")
        tasks = await TaskRepository().count(session=session)
    assert (jobs, completed_jobs, discussions) == (RUNS, RUNS, RUNS)
    task_ids = [task for o in outcomes for task in o.task_ids]
    assert tasks == len(task_ids) == len(set(task_ids)) >= RUNS

    # Every outside effect once: a Notion page per task (by its key), a Slack reply per thread.
    pages = await sandbox.created("notion", "pages")
    keys = [page["properties"]["Intake Key"]["rich_text"][0]["plain_text"] for page in pages]
    assert len(keys) == len(set(keys)) == len(task_ids)
    replies = await sandbox.created("slack", "messages")
    assert len(replies) == RUNS
    assert len({(r["channel"], r["thread_ts"]) for r in replies}) == RUNS

    # The work was spread: each of the three workers completed activities (its log lines say which).
    ran = Counter(
        line["worker"]
        for line in workers.lines()
        if line["logger"] == "intake.activity" and "completed" in line["message"] and line.get("workflow_id")
    )
    print(f"activities completed per worker: {dict(ran)}")
    assert set(identities) <= set(ran) <= {*identities, *(i for i in workers.polling() if i.startswith(again[0]))}
    assert all(ran[by_pid[p.pid]] > 0 for p in (killed, stopped, survivor))
    assert ran[by_pid[survivor.pid]] > ran[by_pid[stopped.pid]]


def test_workers_that_keep_failing_at_start_are_given_up_on_and_the_command_exits_1(tmp_path: Path) -> None:
    """A setting no worker can work with (here: no PostgreSQL where DATABASE_URL says): each child
    fails at once, is started again after 1, 2, 4, 8 s, and after its fifth early failure the
    command stops the others and exits 1, saying why; nothing is left running."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://intake:hunter2@127.0.0.1:{free_port()}/intake",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "INTAKE_WAIT_TIMEOUT": "0",
        "INTAKE_STATE_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--count", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    assert re.search(r"worker \d \(pid \d+\) exited with code 1 after \ds; starting it again in 1s", done.stderr)
    assert re.search(r"starting it again in 8s", done.stderr)
    assert "of its start 5 times in a row, so it is not started again; stopping the others" in done.stderr
    assert "hunter2" not in done.stderr


def test_without_restart_a_dead_worker_stays_dead_and_the_others_go_on(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://intake@127.0.0.1:{free_port()}/intake",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "INTAKE_WAIT_TIMEOUT": "0",
        "INTAKE_STATE_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--count", "2", "--no-restart"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert len(re.findall(r"worker \d \(pid \d+\) exited with code 1 after \ds\n", done.stderr)) == 2
    assert "again" not in done.stderr
