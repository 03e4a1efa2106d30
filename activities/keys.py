"""Idempotency keys for activity writes, and the one rule for outside writes made once."""

from __future__ import annotations

from temporalio import activity

from activities.interceptors import may_have_run_before


def activity_key(name: str) -> str:
    """A key that is the same for every attempt of this activity execution, and only for it.

    Workflow id + run id + activity id: a retry (same attempt chain) and a
    replayed workflow reuse the key; a new run of the same workflow id (which
    numbers its activities from 1 again) does not.
    """
    info = activity.info()
    return f"{name}:{info.workflow_id}:{info.workflow_run_id}:{info.activity_id}"


def may_have_written(*, earlier: bool = False) -> bool:
    """Whether an outside write of this activity may exist already, so the provider must look it up
    by its key before creating (`look_first=`): on every retry of the activity, and when the caller
    knows of earlier work on the same key (`earlier`: an earlier job of the discussion, an earlier
    round of attempts of the export job); a run again within an attempt, after the database came
    back, counts as a retry (`activities.interceptors.may_have_run_before`). Only the first run of
    the first attempt of the first try may skip the look."""
    return earlier or may_have_run_before()
