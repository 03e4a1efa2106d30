"""Who may call the admin API: bearer tokens, one team each, kept only as a hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.base import SYSTEM_USER_ID, Base, uuid_pk


class ApiToken(Base):
    """A team's API token: its sha256 (the token itself is shown once, at creation), never the token."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    token_hash: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    # The token's first characters, so a list can tell tokens apart without revealing them.
    prefix: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    created_by: Mapped[str] = mapped_column(Text, nullable=False, default=SYSTEM_USER_ID)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
