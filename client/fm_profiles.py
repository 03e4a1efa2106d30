"""Setting up a workspace's FM profiles: how each facility manager's work-order PDFs are read.

A profile says whose PDFs it reads (sender domains, text markers), where a
field is when the default "Label: value" patterns miss it, and in which order
its sender writes an ambiguous numeric date (04/07/2024): `day_first`,
`month_first`, or unset (the deployment's INTAKE_DATE_ORDER decides). Used by
`intake workorder profile`; one transaction per call, and bad input is
refused before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from client.work_orders import workspace_spec
from core.dates import parse_date_order
from core.errors import InvalidInputError, NotFoundError
from db.models.work_orders import FmProfile
from db.repositories.work_orders import FmProfileRepository, WorkspaceRepository
from db.uow import unit_of_work
from integrations.pdf_extract import DEFAULT_PATTERNS


async def set_fm_profile(
    sessions: async_sessionmaker[AsyncSession],
    *,
    workspace: str,
    fm_key: str,
    spreadsheet_id: str | None = None,
    display_name: str | None = None,
    sender_domains: list[str] | None = None,
    text_markers: list[str] | None = None,
    field_patterns: dict[str, str] | None = None,
    date_order: str | None = None,
) -> FmProfile:
    """Create the profile `fm_key` in `workspace` (the workspace too, with its starter profiles, if new),
    or update what is given of an existing one; None leaves a value as it is.

    `date_order` is the text a user gave: `day_first`, `month_first`, or `none`
    to unset it. `field_patterns` are merged into the stored ones.
    """
    workspace = workspace_spec(workspace, spreadsheet_id=spreadsheet_id).slug  # refuses a malformed slug
    fm_key = fm_key.strip()
    changes = _checked_changes(fm_key, display_name, sender_domains, text_markers, field_patterns, date_order)
    async with unit_of_work(sessions) as session:
        ws, _ = await WorkspaceRepository().get_or_create(
            session=session, slug=workspace, spreadsheet_id=spreadsheet_id
        )
        if field_patterns is not None:
            current = await FmProfileRepository().find_one(session=session, workspace_id=ws.id, fm_key=fm_key)
            changes["field_patterns"] = {**(current.field_patterns if current else {}), **field_patterns}
        return await FmProfileRepository().ensure(session=session, workspace_id=ws.id, fm_key=fm_key, changes=changes)


async def list_fm_profiles(sessions: async_sessionmaker[AsyncSession], *, workspace: str) -> list[FmProfile]:
    """The workspace's profiles by key; NotFoundError when there is no such workspace."""
    async with sessions() as session:
        ws = await WorkspaceRepository().find_one(session=session, slug=workspace)
        if ws is None:
            raise NotFoundError(f"workspace {workspace!r} does not exist (it is created by its first ingestion)")
        return await FmProfileRepository().for_workspace(ws.id, session=session)


def parse_field_patterns(items: list[str]) -> dict[str, str]:
    """`FIELD=REGEX` options as a dict; InvalidInputError for one without `=`."""
    patterns: dict[str, str] = {}
    for item in items:
        field, sep, pattern = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--pattern {item!r} is not FIELD=REGEX")
        patterns[field.strip()] = pattern
    return patterns


def _checked_changes(
    fm_key: str,
    display_name: str | None,
    sender_domains: list[str] | None,
    text_markers: list[str] | None,
    field_patterns: dict[str, str] | None,
    date_order: str | None,
) -> dict[str, Any]:
    if not fm_key:
        raise InvalidInputError("the FM profile key is empty")
    changes: dict[str, Any] = {}
    if display_name is not None:
        if not display_name.strip():
            raise InvalidInputError("the display name is empty")
        changes["display_name"] = display_name.strip()
    if sender_domains is not None:
        domains = [d.strip().lstrip("@").lower() for d in sender_domains]
        if bad := [d for d in domains if not d or "@" in d or " " in d]:
            raise InvalidInputError(f"not a sender domain: {bad[0]!r} (give e.g. acme-fm.example)")
        changes["sender_domains"] = domains
    if text_markers is not None:
        if any(not marker.strip() for marker in text_markers):
            raise InvalidInputError("a text marker must not be empty")
        changes["text_markers"] = [marker.strip() for marker in text_markers]
    for field, pattern in (field_patterns or {}).items():
        if field not in DEFAULT_PATTERNS:
            raise InvalidInputError(f"unknown field {field!r} in a pattern; known: {', '.join(DEFAULT_PATTERNS)}")
        try:
            groups = re.compile(pattern).groups
        except re.error as err:
            raise InvalidInputError(f"the pattern of {field} is not a regular expression: {err}") from None
        if groups > 1:
            raise InvalidInputError(f"the pattern of {field} has {groups} groups; it may have at most one")
    if date_order is not None:
        changes["date_order"] = parse_date_order(date_order, what="date order")
    return changes
