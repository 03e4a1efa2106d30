"""Every model, imported here so `Base.metadata` (and Alembic) sees all tables."""

from db.models.api import ApiToken
from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.models.health import HealthCheck
from db.models.idempotency import IdempotencyKey
from db.models.signals import (
    AuditLog,
    CalendarEventRecord,
    FeedbackEntry,
    GateEvaluation,
    GmailDraft,
    IngestionState,
    ProposedAction,
    SignalUser,
    WorkflowEvent,
    WorkflowRun,
    WorkItem,
)
from db.models.work_orders import (
    ExportJob,
    ExtractionRun,
    FmProfile,
    SignedDocument,
    SignedMatch,
    WorkOrder,
    WorkOrderSource,
    Workspace,
    WorkspaceMember,
)

__all__ = [
    "ApiToken",
    "AuditLog",
    "CalendarEventRecord",
    "Discussion",
    "ExportJob",
    "ExtractionRun",
    "FeedbackEntry",
    "FmProfile",
    "GateEvaluation",
    "GmailDraft",
    "HealthCheck",
    "IdempotencyKey",
    "IngestionState",
    "Job",
    "ProposedAction",
    "SignalUser",
    "SignedDocument",
    "SignedMatch",
    "SourceConfig",
    "Task",
    "WorkItem",
    "WorkOrder",
    "WorkOrderSource",
    "WorkflowEvent",
    "WorkflowRun",
    "Workspace",
    "WorkspaceMember",
]
