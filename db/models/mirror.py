"""The engine mirror: what Temporal ran, as tables SQL, dashboards and BI tools can read.

A read model, never the authority: Temporal's history is. `executions`, `execution_steps`,
`timers` and `execution_history` are projected from history (client/mirror_projection.py) and
can be rebuilt from it; `job_attempts` comes from the workers (one row per activity attempt,
written by activities/attempts.py), because history keeps only the last attempt of a retried
activity. Child rows are keyed by (workflow_id, run_id, ...) and deleted with their execution.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, one_of

EXECUTION_STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled")
FINAL_EXECUTION_STATUSES = ("completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped")
ATTEMPT_OUTCOMES = ("running", "completed", "failed", "cancelled", "lost", "timed_out")
TIMER_KINDS = ("sleep", "retry")


def _execution_fk() -> ForeignKeyConstraint:
    """A child row's (workflow_id, run_id) names its execution; deleting the execution deletes it."""
    return ForeignKeyConstraint(
        ["workflow_id", "run_id"], ["executions.workflow_id", "executions.run_id"], ondelete="CASCADE"
    )


class Execution(Base):
    """One Temporal run: its type, ids, status, times and our search attributes."""

    __tablename__ = "executions"
    __table_args__ = (
        CheckConstraint(one_of("status", EXECUTION_STATUSES), name="status"),
        Index("ix_executions_status_start_time", "status", "start_time"),
        Index("ix_executions_workflow_type_start_time", "workflow_type", "start_time"),
        Index("ix_executions_team_id_start_time", "team_id", "start_time"),
        Index("ix_executions_close_time", "close_time"),
    )

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    workflow_type: Mapped[str] = mapped_column(Text, nullable=False)
    parent_workflow_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    task_queue: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    # Temporal's own name for the close (e.g. timed_out, terminated, continued_as_new).
    temporal_status: Mapped[str] = mapped_column(Text, nullable=False)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    close_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    team_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    discussion_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    work_order_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The last history event projected: a run whose history grew is projected again.
    history_length: Mapped[int] = mapped_column(Integer, nullable=False)
    # When the row was last written by the mirror (its lag is mirrored_at - close_time).
    mirrored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class ExecutionStep(Base):
    """One activity or local activity of a run, as its last attempt left it."""

    __tablename__ = "execution_steps"
    __table_args__ = (
        _execution_fk(),
        CheckConstraint(one_of("status", STEP_STATUSES), name="status"),
        Index("ix_execution_steps_status_finished_at", "status", "finished_at"),
        Index("ix_execution_steps_name", "name"),
    )

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    activity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    local: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobAttempt(Base):
    """One attempt of an activity, as the worker that ran it saw it (no history keeps these).

    Not tied to `executions` by a foreign key: a worker may record an attempt before the mirror
    has seen its run.
    """

    __tablename__ = "job_attempts"
    __table_args__ = (
        CheckConstraint(one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"),
        Index("ix_job_attempts_started_at", "started_at"),
        Index("ix_job_attempts_outcome_started_at", "outcome", "started_at"),
    )

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    activity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_type: Mapped[str] = mapped_column(Text, nullable=False)
    workflow_type: Mapped[str] = mapped_column(Text, nullable=False)
    local: Mapped[bool] = mapped_column(Boolean, nullable=False)
    worker_identity: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Timer(Base):
    """A durable wait of a run: a workflow sleep (a history timer) or an activity's retry wait."""

    __tablename__ = "timers"
    __table_args__ = (
        _execution_fk(),
        CheckConstraint(one_of("kind", TIMER_KINDS), name="kind"),
        Index("ix_timers_fire_at", "fire_at"),
    )

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    timer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # The activity whose retry waits (kind retry), else None.
    activity_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled: Mapped[bool] = mapped_column(Boolean, nullable=False)


class ExecutionHistoryEvent(Base):
    """One event of a run's history, as a line of its timeline."""

    __tablename__ = "execution_history"
    __table_args__ = (_execution_fk(), Index("ix_execution_history_event_time", "event_time"))

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)


class MirrorPosition(Base):
    """Where a mirror feed is: runs closed up to `close_watermark` are mirrored."""

    __tablename__ = "mirror_positions"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    close_watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    runs_mirrored: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
