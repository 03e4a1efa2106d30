"""Timeouts and retry policies shared by the workflows: every activity call has both."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class LocalActivityOptions(TypedDict, total=False):
    """What `execute_local_activity*` takes besides the activity and its input (as `**options`)."""

    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


class ActivityOptions(LocalActivityOptions, total=False):
    """What `execute_activity*` takes besides the activity and its input (as `**options`)."""

    heartbeat_timeout: timedelta


# No list of non-retryable error names: whether an error is worth retrying is its class's
# (`IntakeError.retryable`), and the worker's interceptor marks the ApplicationError so.

# How long an attempt may wait for PostgreSQL after losing its connection, then run again
# (activities/interceptors.py; the worker's DB_OUTAGE_TIMEOUT, 5 minutes by default). The
# start-to-close timeouts of the activities that heartbeat allow for it.
DB_OUTAGE_ALLOWANCE = timedelta(minutes=5)
# Activities that may run long heartbeat (the worker's interceptor does it for them): when a
# worker dies, Temporal retries its activities elsewhere after this, not after start-to-close.
HEARTBEAT_TIMEOUT = timedelta(seconds=10)

# One short Postgres transaction (local activities too, which cannot heartbeat: a dead worker's
# workflow task times out and another worker runs them again). An attempt waits for an absent
# database within its timeout; the attempts cover minutes of outage.
DB_WRITE: LocalActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=20,
    ),
}

# A call to an outside service: backoff between attempts (an ApplicationError's
# next_retry_delay, set from the service's Retry-After, takes precedence), bounded. An attempt
# runs for up to 60 s, plus the time it may wait for the database; it heartbeats.
OUTSIDE_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=60) + DB_OUTAGE_ALLOWANCE,
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
    ),
}

# Graph nodes (workflows/graphs.py): each node type names one of these (contracts/graphs.py
# NODE_TYPES), and a node may bound its own attempts (`retry.maximum_attempts`).
GRAPH_POLICIES: dict[str, ActivityOptions] = {
    # Pure nodes and step records: local activities, one short transaction each.
    "graph_local": {**DB_WRITE},
    # Slack, Notion, Sheets: as every outside call.
    "graph_outside": {**OUTSIDE_CALL},
    # An HTTP request: its own timeout (at most 60 s) bounds each attempt; three attempts.
    "graph_http": {
        "start_to_close_timeout": timedelta(seconds=70) + DB_OUTAGE_ALLOWANCE,
        "heartbeat_timeout": HEARTBEAT_TIMEOUT,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=10),
            maximum_attempts=3,
        ),
    },
}


def graph_node_options(policy: str, maximum_attempts: int | None = None) -> ActivityOptions:
    """The options of a graph node's activity: its type's policy, its own attempt bound if any."""
    options: ActivityOptions = {**GRAPH_POLICIES[policy]}
    if maximum_attempts is not None:
        base = options["retry_policy"]
        options["retry_policy"] = RetryPolicy(
            initial_interval=base.initial_interval,
            backoff_coefficient=base.backoff_coefficient,
            maximum_interval=base.maximum_interval,
            maximum_attempts=maximum_attempts,
        )
    return options


# One bulk write: a batch's plan (the whole file read once) or one chunk of its rows (thousands
# of rows in one transaction). It heartbeats (a dead worker's chunk is retried after 10 s); a
# chunk is state-guarded, so a retry after its commit writes nothing.
BULK_WRITE: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=120) + DB_OUTAGE_ALLOWANCE,
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=5,
    ),
}
