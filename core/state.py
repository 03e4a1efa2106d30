"""The embedded stack's state file: where `intake up` tells other commands what runs where.

`intake up` writes ``<state_dir>/stack.json`` once Postgres, Temporal and the
sandbox listen; settings read it when DATABASE_URL / TEMPORAL_ADDRESS are not
set, so `intake discussion start` in a second terminal finds the running stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

STACK_FILE = "stack.json"


class StackState(BaseModel):
    """What a running embedded stack serves, and the processes that serve it."""

    database_url: str
    temporal_address: str
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    sandbox_url: str | None = None
    api_url: str | None = None
    owner_pid: int
    pids: dict[str, int] = {}


def state_path(state_dir: Path) -> Path:
    return state_dir / STACK_FILE


def write_state(state_dir: Path, state: StackState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)


def read_state(state_dir: Path) -> StackState | None:
    """The running stack's state, or None when no stack owned by a live process is recorded."""
    path = state_path(state_dir)
    try:
        state = StackState.model_validate(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(state.owner_pid):
        return None
    return state


def clear_state(state_dir: Path) -> None:
    state_path(state_dir).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
