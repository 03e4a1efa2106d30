"""Every model, imported here so `Base.metadata` (and Alembic) sees all tables."""

from db.models.discussions import Discussion, Job, SourceConfig, Task
from db.models.health import HealthCheck
from db.models.idempotency import IdempotencyKey

__all__ = ["Discussion", "HealthCheck", "IdempotencyKey", "Job", "SourceConfig", "Task"]
