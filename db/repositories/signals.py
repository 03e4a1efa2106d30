"""Signal ingestion's users and ingestion state (cursors, last success, last error)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    func,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from db.models.signals import (
    IngestionState,
    SignalUser,
)
from db.repository import Repository


class SignalUserRepository(Repository[SignalUser]):
    def __init__(self) -> None:
        super().__init__(SignalUser)

    async def ensure(
        self,
        *,
        session: AsyncSession,
        user_id: str,
        mailbox: str,
        gate_config: dict[str, Any],
        calendar_id: str | None = None,
        watch_keywords: list[str] | None = None,
        sender_scores: dict[str, float] | None = None,
        active: bool = True,
        team_id: str | None = None,
    ) -> SignalUser:
        """Register the user, or update what was given of their mailbox, calendar, watch list, scores
        and active flag (None: an existing user keeps theirs; a new user starts with the mailbox as
        calendar, no watched words, no scores and no team).

        `gate_config` is what a new user starts with; an existing user's rules are kept.
        """
        given: dict[str, Any] = {
            "mailbox": mailbox,
            "active": active,
            "calendar_id": calendar_id,
            "watch_keywords": watch_keywords,
            "sender_scores": sender_scores,
            "team_id": team_id,
        }
        updates = {name: value for name, value in given.items() if value is not None}
        stmt = (
            insert(SignalUser)
            .values(
                user_id=user_id,
                gate_config=gate_config,
                mailbox=mailbox,
                active=active,
                calendar_id=calendar_id or mailbox,
                watch_keywords=watch_keywords or [],
                sender_scores=sender_scores or {},
                team_id=team_id,
            )
            .on_conflict_do_update(index_elements=[SignalUser.user_id], set_={**updates, "updated_at": func.now()})
            .returning(SignalUser)
        )
        return (await session.scalars(stmt, execution_options={"populate_existing": True})).one()

    async def active_ids(self, *, session: AsyncSession) -> list[str]:
        return [user.user_id for user in await self.find_many(session=session, active=True)]


class IngestionStateRepository(Repository[IngestionState]):
    def __init__(self) -> None:
        super().__init__(IngestionState)

    @staticmethod
    def move_cursor(
        user_id: str,
        source: Literal["gmail", "calendar"],
        *,
        cursor: str,
        read: str | None,
        bootstrapped_at: datetime | None = None,
    ) -> Executable:
        """The statement that moves one source's cursor from `read` to `cursor` (compare-and-set).

        A statement, not a write: it runs in the transaction of the last signal stored before it.
        It moves the cursor only while it is still `read`, the one this run started from: when
        another run for the user (the schedule's and an on-demand one, or an earlier attempt of
        this one) moved it meanwhile, it is left where that run put it, so a slower run never
        moves it backwards. Its signals are stored all the same (an upsert each); whatever lies
        between the two cursors is fetched again by the next run and skipped as unchanged.
        `bootstrapped_at`: a full sync's end, kept once set.
        """
        column = IngestionState.gmail_cursor if source == "gmail" else IngestionState.calendar_cursor
        values: dict[str, Any] = {column.key: cursor}
        stmt = insert(IngestionState).values(user_id=user_id, bootstrap_completed_at=bootstrapped_at, **values)
        if bootstrapped_at is not None:
            values["bootstrap_completed_at"] = func.coalesce(IngestionState.bootstrap_completed_at, bootstrapped_at)
        return stmt.on_conflict_do_update(
            index_elements=[IngestionState.user_id],
            set_={**values, "updated_at": func.now()},
            where=column.is_not_distinct_from(read),
        )

    async def record_success(self, user_id: str, *, session: AsyncSession, at: datetime) -> None:
        """A run went through: its time (the stale gate reads it) and no error."""
        await self._upsert(session, user_id, {"last_synced_at": at, "last_error": None, "last_error_at": None})

    async def record_error(self, user_id: str, error: str, *, session: AsyncSession, at: datetime) -> None:
        """Keep the error for `intake ingest status`; the cursors stay where they were."""
        await self._upsert(session, user_id, {"last_error": error, "last_error_at": at})

    async def _upsert(self, session: AsyncSession, user_id: str, values: dict[str, Any]) -> None:
        await session.execute(
            insert(IngestionState)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=[IngestionState.user_id], set_={**values, "updated_at": func.now()})
        )
