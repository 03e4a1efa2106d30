"""The graph pipeline's tables: workflow definitions, graph executions and their steps.

The engine mirror (built beside this) owns the engine-level tables (`executions`,
`execution_steps`, `job_attempts`, `timers`, `execution_history`: one row per Temporal run and
per activity). These tables keep only what is graph-specific, and join to the mirror through
the Temporal workflow id and run id on `graph_executions`:

- `workflow_definitions`: a named graph (nodes and edges as JSON), one row per version;
  `intake graph apply` adds a version, soft delete hides a definition.
- `graph_executions`: one run of a definition at its pinned version, with the seed's status
  (pending/running/paused/completed/failed/cancelled), input, output, error, the node that
  failed, and the execution it retries (`retried_from`; `root_execution_id` is the first of the
  chain, which keys the outside writes).
- `graph_steps`: one per node of an execution, with the seed's step status
  (pending/running/completed/failed/skipped), the node's rendered input (its parameters), its
  output, the parameters' validation result, the edges it took, its retry state (attempts,
  Temporal's retry state on a failure), its error, and when it started and finished; a step
  reused by a retry names the step it was copied from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import SYSTEM_USER_ID, Base, SoftDeleteMixin, TimestampMixin, one_of, uuid_pk

EXECUTION_STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped")


class WorkflowDefinition(SoftDeleteMixin, TimestampMixin, Base):
    """One version of a named graph definition."""

    __tablename__ = "workflow_definitions"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    graph: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(Text, nullable=False, default=SYSTEM_USER_ID)


class GraphExecution(TimestampMixin, Base):
    """One run of a definition (at the version pinned when it started)."""

    __tablename__ = "graph_executions"
    __table_args__ = (
        CheckConstraint(one_of("status", EXECUTION_STATUSES), name="status"),
        Index("ix_graph_executions_definition_started", "definition_id", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    definition_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflow_definitions.id"), nullable=False)
    definition_name: Mapped[str] = mapped_column(Text, nullable=False)
    definition_version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending", index=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    failed_node_id: Mapped[str | None] = mapped_column(Text)
    # Joins to the engine mirror's executions (one row per Temporal run).
    workflow_id: Mapped[str] = mapped_column(Text, nullable=False)
    run_id: Mapped[str] = mapped_column(Text, nullable=False)
    retried_from: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("graph_executions.id"))
    root_execution_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class GraphStep(TimestampMixin, Base):
    """One node of one execution."""

    __tablename__ = "graph_steps"
    __table_args__ = (
        CheckConstraint(one_of("status", STEP_STATUSES), name="status"),
        UniqueConstraint("execution_id", "node_id"),
        Index("ix_graph_steps_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("graph_executions.id", ondelete="CASCADE"), nullable=False
    )
    node_id: Mapped[str] = mapped_column(Text, nullable=False)
    node_type: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    input: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    routes: Mapped[list[bool] | None] = mapped_column(JSONB)
    retry_state: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    reused_from: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("graph_steps.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
