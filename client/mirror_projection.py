"""The mirror's one projection: a run's history events (and its recorded attempts) -> rows.

Pure: no I/O, no clock. The live feed (client/mirror_feed.py) and `intake mirror rebuild` both
call `project`, so a rebuilt mirror equals the live one row for row.

- executions: one row per run. Status from the close event, else `paused` after a pause event
  not yet undone, `running` once a workflow task started, `pending` before. A terminated or
  timed-out run is `cancelled` / `failed`, with Temporal's own word in `temporal_status`.
  Search attributes from the start event and every upsert after it.
- execution_steps: one row per activity (its activity id) and per local activity
  (`local:<seq>`, from the SDK's `core_local_activity` markers: local activities have no
  events of their own). History writes an activity's started event once, with the attempt
  that ended it, and keeps only the last failure; earlier attempts are in `attempts`.
- timers: every workflow sleep (history timers: fire_at = start + timeout, fired or
  cancelled), and every retry wait of an activity: after a failed attempt (from the recorded
  attempts), waiting the retry policy's backoff for that attempt until the next one starts.
- execution_history: one line per event: its id, time, kind and a one-line summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import RetryPolicy
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.converter import decode_typed_search_attributes

# Our search attributes as the executions' columns.
SEARCH_ATTRIBUTE_COLUMNS = {
    "IntakeTeamId": "team_id",
    "IntakeUserId": "user_id",
    "IntakeDiscussionId": "discussion_id",
    "IntakeWorkOrderId": "work_order_id",
}
LOCAL_PREFIX = "local:"
ERROR_LIMIT = 2000
SUMMARY_LIMIT = 300

_CLOSES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: ("completed", "completed"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: ("completed", "continued_as_new"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: ("failed", "failed"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: ("failed", "timed_out"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: ("cancelled", "cancelled"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: ("cancelled", "terminated"),
}


@dataclass(frozen=True)
class RecordedAttempt:
    """What a worker recorded of one attempt (a job_attempts row), as the projection needs it."""

    activity_id: str
    attempt: int
    outcome: str
    started_at: datetime
    ended_at: datetime | None


@dataclass
class RunRows:
    """The rows of one run, as dicts keyed by column name."""

    execution: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.execution["close_time"] is not None


def local_activity_id(seq: str | int) -> str:
    """The step id of a local activity: its sequence number, apart from the activities' ids."""
    return f"{LOCAL_PREFIX}{seq}"


def event_kind(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()


def failure_text(failure: Failure) -> str:
    """A failure and its causes in one line: `Type: message <- Cause: message`."""
    parts: list[str] = []
    current: Failure | None = failure
    while current is not None and (current.message or current.HasField("application_failure_info")):
        kind = current.application_failure_info.type if current.HasField("application_failure_info") else ""
        if current.HasField("timeout_failure_info"):
            kind = "timeout " + _enum_word(str(current.timeout_failure_info.timeout_type), "TIMEOUT_TYPE_")
        parts.append(f"{kind}: {current.message}" if kind else current.message)
        current = current.cause if current.HasField("cause") else None
    return " <- ".join(parts)[:ERROR_LIMIT]


def _enum_word(value: str, prefix: str) -> str:
    return value.removeprefix(prefix).lower()


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=_utc())


def _utc() -> Any:
    from datetime import UTC

    return UTC


def backoff(policy: RetryPolicy | None, attempt: int) -> timedelta:
    """The wait after failed attempt `attempt` under Temporal's retry policy (its defaults when unset)."""
    initial = policy.initial_interval.ToTimedelta() if policy and policy.HasField("initial_interval") else None
    initial = initial or timedelta(seconds=1)
    coefficient = (policy.backoff_coefficient if policy else 0.0) or 2.0
    cap = policy.maximum_interval.ToTimedelta() if policy and policy.HasField("maximum_interval") else None
    wait = initial * (coefficient ** (attempt - 1))
    return min(wait, cap or initial * 100)


def project(
    workflow_id: str,
    run_id: str,
    events: Iterable[HistoryEvent],
    attempts: Sequence[RecordedAttempt] = (),
) -> RunRows:
    """The rows of the run `workflow_id`/`run_id` whose history is `events` (in order)."""
    execution: dict[str, Any] = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "workflow_type": "",
        "parent_workflow_id": None,
        "parent_run_id": None,
        "task_queue": "",
        "status": "pending",
        "temporal_status": "running",
        "start_time": None,
        "close_time": None,
        **{column: None for column in SEARCH_ATTRIBUTE_COLUMNS.values()},
        "error": None,
        "history_length": 0,
    }
    steps: dict[str, dict[str, Any]] = {}
    by_scheduled: dict[int, str] = {}
    policies: dict[str, RetryPolicy] = {}
    timers: dict[str, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    paused = cancel_requested = False
    # Each event kind has its own attributes message; `a` is the one of the event at hand.
    a: Any

    for event in events:
        at = _time(event)
        kind = event_kind(event)
        summary = ""
        execution["history_length"] = event.event_id
        et = event.event_type
        if et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = event.workflow_execution_started_event_attributes
            execution.update(
                workflow_type=a.workflow_type.name,
                task_queue=a.task_queue.name,
                start_time=at,
            )
            if a.HasField("parent_workflow_execution"):
                execution["parent_workflow_id"] = a.parent_workflow_execution.workflow_id
                execution["parent_run_id"] = a.parent_workflow_execution.run_id
            _search_attributes(execution, a.search_attributes)
            summary = f"{a.workflow_type.name} on {a.task_queue.name}"
        elif et == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            if execution["status"] == "pending":
                execution["status"] = "running"
        elif et == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            _search_attributes(execution, event.upsert_workflow_search_attributes_event_attributes.search_attributes)
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_PAUSED:
            paused = True
            summary = "paused"
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UNPAUSED:
            paused = False
            summary = "resumed"
        elif et in _CLOSES:
            execution["status"], execution["temporal_status"] = _CLOSES[et]
            execution["close_time"] = at
            if et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                execution["error"] = failure_text(event.workflow_execution_failed_event_attributes.failure)
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
                execution["error"] = f"terminated: {event.workflow_execution_terminated_event_attributes.reason}"
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
                execution["error"] = "workflow timed out"
            summary = execution["error"] or execution["temporal_status"]
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = event.activity_task_scheduled_event_attributes
            by_scheduled[event.event_id] = a.activity_id
            policies[a.activity_id] = a.retry_policy
            steps[a.activity_id] = {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "activity_id": a.activity_id,
                "name": a.activity_type.name,
                "local": False,
                "status": "pending",
                "attempts": 0,
                "scheduled_at": at,
                "started_at": None,
                "finished_at": None,
                "last_error": None,
            }
            summary = f"{a.activity_type.name} (activity {a.activity_id}) scheduled"
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = event.activity_task_started_event_attributes
            step = steps[by_scheduled[a.scheduled_event_id]]
            step.update(status="running", attempts=a.attempt, started_at=at)
            if a.HasField("last_failure"):
                step["last_error"] = failure_text(a.last_failure)
            summary = f"{step['name']} attempt {a.attempt} started by {a.identity}"
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            step = steps[by_scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]]
            step.update(status="completed", finished_at=at)
            summary = f"{step['name']} completed"
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            a = event.activity_task_failed_event_attributes
            step = steps[by_scheduled[a.scheduled_event_id]]
            step.update(status="failed", finished_at=at, last_error=failure_text(a.failure))
            summary = f"{step['name']} failed: {step['last_error']}"
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            a = event.activity_task_timed_out_event_attributes
            step = steps[by_scheduled[a.scheduled_event_id]]
            step.update(status="failed", finished_at=at, last_error=failure_text(a.failure) or "timed out")
            summary = f"{step['name']} timed out: {step['last_error']}"
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            step = steps[by_scheduled[event.activity_task_canceled_event_attributes.scheduled_event_id]]
            step.update(status="skipped", finished_at=at)
            summary = f"{step['name']} cancelled"
        elif et == EventType.EVENT_TYPE_MARKER_RECORDED:
            a = event.marker_recorded_event_attributes
            if a.marker_name == "core_local_activity" and "data" in a.details and a.details["data"].payloads:
                data = json.loads(a.details["data"].payloads[0].data)
                step_id = local_activity_id(data.get("activity_id", data.get("seq")))
                failed = a.HasField("failure")
                finished = _proto_time(data.get("complete_time")) or at
                # The two times come from different clocks (worker, server): keep them in order.
                scheduled = min(_proto_time(data.get("original_schedule_time")) or at, finished)
                steps[step_id] = {
                    "workflow_id": workflow_id,
                    "run_id": run_id,
                    "activity_id": step_id,
                    "name": data.get("activity_type", ""),
                    "local": True,
                    "status": "failed" if failed else "completed",
                    "attempts": int(data.get("attempt", 1)),
                    "scheduled_at": scheduled,
                    "started_at": scheduled,
                    "finished_at": finished,
                    "last_error": failure_text(a.failure) if failed else None,
                }
                summary = (
                    f"local {steps[step_id]['name']} {steps[step_id]['status']} (attempt {data.get('attempt', 1)})"
                )
            else:
                summary = f"marker {a.marker_name}"
        elif et == EventType.EVENT_TYPE_TIMER_STARTED:
            a = event.timer_started_event_attributes
            timeout = a.start_to_fire_timeout.ToTimedelta()
            timers[a.timer_id] = {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "timer_id": a.timer_id,
                "kind": "sleep",
                "activity_id": None,
                "started_at": at,
                "fire_at": at + timeout,
                "fired_at": None,
                "cancelled": False,
            }
            summary = f"timer {a.timer_id} for {timeout.total_seconds():g}s"
        elif et == EventType.EVENT_TYPE_TIMER_FIRED:
            timer_id = event.timer_fired_event_attributes.timer_id
            if timer_id in timers:
                timers[timer_id]["fired_at"] = at
            summary = f"timer {timer_id} fired"
        elif et == EventType.EVENT_TYPE_TIMER_CANCELED:
            timer_id = event.timer_canceled_event_attributes.timer_id
            if timer_id in timers:
                timers[timer_id]["cancelled"] = True
            summary = f"timer {timer_id} cancelled"
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            summary = f"signal {event.workflow_execution_signaled_event_attributes.signal_name}"
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            summary = f"update {event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name}"
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            cancel_requested = True
            summary = f"cancel requested: {event.workflow_execution_cancel_requested_event_attributes.cause}"
        elif et == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            a2 = event.start_child_workflow_execution_initiated_event_attributes
            summary = f"child {a2.workflow_type.name} {a2.workflow_id}"
        history.append(
            {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "event_id": event.event_id,
                "event_time": at,
                "kind": kind,
                "summary": summary[:SUMMARY_LIMIT],
            }
        )

    if execution["close_time"] is None and paused:
        execution["status"] = "paused"
    if cancel_requested and execution["status"] == "failed":
        execution["status"] = "cancelled"
    closed = execution["close_time"] is not None
    recorded: dict[str, list[RecordedAttempt]] = {}
    for attempt in attempts:
        recorded.setdefault(attempt.activity_id, []).append(attempt)
    for step_id, step in steps.items():
        tries = sorted(recorded.get(step_id, []), key=lambda a: a.attempt)
        if step["status"] in ("pending", "running") and tries:
            # Still retrying: history shows no attempt yet, the workers do.
            step["attempts"] = max(step["attempts"], tries[-1].attempt)
            if closed:
                step["status"] = "skipped"
        elif step["status"] in ("pending", "running") and closed:
            step["status"] = "skipped"
        if step["local"]:
            continue
        starts = {a.attempt: a.started_at for a in tries}
        for attempt in tries:
            # A lost attempt's end is not known (its worker died): no wait is drawn after it.
            if attempt.outcome in ("completed", "running", "lost") or attempt.ended_at is None:
                continue
            # A failed attempt waits out its backoff before the next (if there is to be one).
            # History has the start of the step's last attempt; the workers' records the others'.
            if step["attempts"] == attempt.attempt + 1 and step["started_at"] is not None:
                next_start = step["started_at"]
            else:
                next_start = starts.get(attempt.attempt + 1)
            if next_start is None and step["status"] != "pending" and step["attempts"] <= attempt.attempt:
                continue  # the last attempt: no wait after it
            timers[f"retry:{step_id}:{attempt.attempt}"] = {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "timer_id": f"retry:{step_id}:{attempt.attempt}",
                "kind": "retry",
                "activity_id": step_id,
                "started_at": attempt.ended_at,
                "fire_at": attempt.ended_at + backoff(policies.get(step_id), attempt.attempt),
                "fired_at": next_start,
                "cancelled": next_start is None and closed,
            }
    return RunRows(
        execution=execution,
        steps=list(steps.values()),
        timers=sorted(timers.values(), key=lambda t: (t["started_at"], t["timer_id"])),
        history=history,
    )


def execution_from_visibility(info: WorkflowExecutionInfo) -> dict[str, Any]:
    """An open run's executions row from what visibility lists of it (no history needed): the
    feed writes it at once for a run it has not seen or whose status changed (a pause), and
    projects the history later. Its status is `running` or `paused` (visibility does not tell
    `pending`)."""
    paused = info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_PAUSED
    execution: dict[str, Any] = {
        "workflow_id": info.execution.workflow_id,
        "run_id": info.execution.run_id,
        "workflow_type": info.type.name,
        "parent_workflow_id": info.parent_execution.workflow_id if info.HasField("parent_execution") else None,
        "parent_run_id": info.parent_execution.run_id if info.HasField("parent_execution") else None,
        "task_queue": info.task_queue,
        "status": "paused" if paused else "running",
        "temporal_status": "running",
        "start_time": info.start_time.ToDatetime(tzinfo=_utc()),
        "close_time": None,
        **{column: None for column in SEARCH_ATTRIBUTE_COLUMNS.values()},
        "error": None,
        "history_length": info.history_length,
    }
    _search_attributes(execution, info.search_attributes)
    return execution


def _search_attributes(execution: dict[str, Any], proto: Any) -> None:
    for pair in decode_typed_search_attributes(proto).search_attributes:
        column = SEARCH_ATTRIBUTE_COLUMNS.get(pair.key.name)
        if column is not None:
            value = pair.value
            execution[column] = value[0] if isinstance(value, list) and value else value


def _proto_time(value: Any) -> datetime | None:
    if not isinstance(value, dict) or "seconds" not in value:
        return None
    return datetime.fromtimestamp(int(value["seconds"]) + int(value.get("nanos", 0)) / 1e9, tz=_utc())
