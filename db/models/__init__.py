"""Every model, imported here so `Base.metadata` (and Alembic) sees all tables."""

from db.models.health import HealthCheck
from db.models.idempotency import IdempotencyKey

__all__ = ["HealthCheck", "IdempotencyKey"]
