"""Every model, imported here so `Base.metadata` (and Alembic) sees all tables."""

from db.models.api import ApiToken
from db.models.batches import Batch, BatchChunk, ErrorRow, ProcessedRow
from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.models.graphs import GraphExecution, GraphStep, WorkflowDefinition
from db.models.health import HealthCheck
from db.models.idempotency import IdempotencyKey
from db.models.mirror import Execution, ExecutionHistoryEvent, ExecutionStep, JobAttempt, MirrorPosition, Timer
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
from db.models.webhooks import NotionEvent, NotionIntegration, WebhookInboxEntry
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
    "Batch",
    "BatchChunk",
    "CalendarEventRecord",
    "Discussion",
    "ErrorRow",
    "Execution",
    "ExecutionHistoryEvent",
    "ExecutionStep",
    "ExportJob",
    "ExtractionRun",
    "FeedbackEntry",
    "FmProfile",
    "GateEvaluation",
    "GmailDraft",
    "GraphExecution",
    "GraphStep",
    "HealthCheck",
    "IdempotencyKey",
    "IngestionState",
    "Job",
    "JobAttempt",
    "MirrorPosition",
    "NotionEvent",
    "NotionIntegration",
    "ProcessedRow",
    "ProposedAction",
    "SignalUser",
    "SignedDocument",
    "SignedMatch",
    "SourceConfig",
    "Task",
    "Timer",
    "WebhookInboxEntry",
    "WorkItem",
    "WorkOrder",
    "WorkOrderSource",
    "WorkflowDefinition",
    "WorkflowEvent",
    "WorkflowRun",
    "Workspace",
    "WorkspaceMember",
]
