from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import SYSTEM_USER_ID, Base, TimestampMixin


class HealthCheck(TimestampMixin, Base):
    """One row per health-check run: proves a worker reached Postgres through Temporal."""

    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    check_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    database_version: Mapped[str] = mapped_column(Text, nullable=False)
    workflow_id: Mapped[str] = mapped_column(Text, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(Text, nullable=False, default=SYSTEM_USER_ID)
