"""Google Sheets: append a row exactly once per key.

``spreadsheets.values.append`` is not idempotent: an attempt whose answer is
lost (a 500 after the write, a timeout) has still appended. So
:meth:`SheetsClient.append_row_once` keeps the key in a column (the first, by
default) and reads that column before appending: a key already there means the
row was written, and its row number is returned instead of a second row.

This is safe against retries of one writer per key (Temporal runs one export
attempt at a time per work order); two writers racing on the same key could
both append, which the pipeline's design rules out.

:meth:`SheetsClient.append_row` is the bare append (one call): for a caller
that knows no earlier attempt can have written the row (the export queue
records every attempt before it calls Sheets), the read is a wasted call.
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

    async def append_row_once(
        self, spreadsheet_id: str, sheet: str, values: list[Any], *, key_column: int = 0
    ) -> SheetsAppend: ...

    async def append_row(self, spreadsheet_id: str, sheet: str, values: list[Any]) -> SheetsAppend: ...

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

    async def append_row_once(
        self, spreadsheet_id: str, sheet: str, values: list[Any], *, key_column: int = 0
    ) -> SheetsAppend:
        """Append ``values`` unless a row with the same key (``values[key_column]``) exists."""
        key = str(values[key_column])
        if not key:
            raise ValueError(f"the key column {key_column} of the row is empty")
        column = column_letter(key_column)
        existing = await self.read_column(spreadsheet_id, sheet, column)
        if key in existing:
            return SheetsAppend(row_number=existing.index(key) + 1, updated_range=None, created=False)
        return await self.append_row(spreadsheet_id, sheet, values)

    async def append_row(self, spreadsheet_id: str, sheet: str, values: list[Any]) -> SheetsAppend:
        """Append ``values`` as a new row below the sheet's table, without looking first."""
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
