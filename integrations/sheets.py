"""Google Sheets: append a row exactly once per key.

``spreadsheets.values.append`` is not idempotent: an attempt whose answer is
lost (a 500 after the write, a timeout) has still appended. So
:meth:`SheetsClient.append_row` writes the row's ``key`` as its last cell and,
when an earlier attempt may have written (``look_first``), reads that column
before appending: a key already there means the row was written, and its row
number is returned instead of a second row. A first attempt skips the read
(one call instead of two).

This is safe against retries of one writer per key (Temporal runs one export
attempt at a time per work order); two writers racing on the same key could
both append, which the pipeline's design rules out.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from core.settings import Settings
from integrations.google import GoogleApi


class SheetsAppend(BaseModel):
    """Where the row for a key is; ``created`` is False when an earlier attempt had already written it."""

    row_number: int
    updated_range: str | None
    created: bool


class SheetsApi(Protocol):
    """What the work-order export needs from Google Sheets."""

    async def read_column(self, spreadsheet_id: str, sheet: str, column: str = "A") -> list[str]: ...

    async def append_row(
        self, spreadsheet_id: str, sheet: str, values: list[Any], *, key: str, look_first: bool = True
    ) -> SheetsAppend: ...

    async def aclose(self) -> None: ...


def a1_sheet(sheet: str) -> str:
    """The sheet name quoted for A1 notation (``'Work Orders'``)."""
    return "'" + sheet.replace("'", "''") + "'"


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class SheetsClient:
    """:class:`SheetsApi` on ``google-api-python-client``."""

    def __init__(self, *, token: str, root_url: str, timeout: float = 30.0) -> None:
        self._api = GoogleApi("sheets", "v4", root_url=root_url, token=token, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> SheetsClient:
        return cls(
            token=settings.google_token.get_secret_value(),
            root_url=settings.service_base_url("sheets"),
            timeout=settings.outside_call_timeout,
        )

    async def aclose(self) -> None:
        """Nothing to close: connections belong to worker threads."""

    async def read_column(self, spreadsheet_id: str, sheet: str, column: str = "A") -> list[str]:
        """Every cell of one column, top to bottom (row 1 first), as strings."""
        data = await self._api.execute(
            "spreadsheets.values.get",
            lambda g: g.collection("spreadsheets.values").get(
                spreadsheetId=spreadsheet_id, range=f"{a1_sheet(sheet)}!{column}:{column}", majorDimension="ROWS"
            ),
        )
        return [row[0] if row else "" for row in data.get("values", [])]

    async def append_row(
        self, spreadsheet_id: str, sheet: str, values: list[Any], *, key: str, look_first: bool = True
    ) -> SheetsAppend:
        """Append ``values`` followed by ``key``, unless a row with that key exists (looked up only when
        ``look_first``: an earlier attempt may have appended it)."""
        if not key:
            raise ValueError("a row needs a non-empty key")
        if look_first:
            existing = await self.read_column(spreadsheet_id, sheet, column_letter(len(values)))
            if key in existing:
                return SheetsAppend(row_number=existing.index(key) + 1, updated_range=None, created=False)
        values = [*values, key]
        data = await self._api.execute(
            "spreadsheets.values.append",
            lambda g: g.collection("spreadsheets.values").append(
                spreadsheetId=spreadsheet_id,
                range=f"{a1_sheet(sheet)}!A1",
                valueInputOption="RAW",
                insertDataOption="INSERT_ROWS",
                body={"values": [values], "majorDimension": "ROWS"},
            ),
        )
        updated = data["updates"]["updatedRange"]
        row = int("".join(ch for ch in updated.rpartition("!")[2].split(":")[0] if ch.isdigit()))
        return SheetsAppend(row_number=row, updated_range=updated, created=True)
