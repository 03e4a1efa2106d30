"""Idempotency keys for activity writes."""

from __future__ import annotations

from temporalio import activity


def activity_key(name: str) -> str:
    """A key that is the same for every attempt of this activity execution, and only for it.

    Workflow id + run id + activity id: a retry (same attempt chain) and a
    replayed workflow reuse the key; a new run of the same workflow id (which
    numbers its activities from 1 again) does not.
    """
    info = activity.info()
    return f"{name}:{info.workflow_id}:{info.workflow_run_id}:{info.activity_id}"
