"""Sheets v4 subset (values.get, values.append), at the paths the static discovery document builds.

Errors are Google's (:mod:`sandbox.google`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from sandbox.core import Endpoint, control_error, json_response
from sandbox.google import GoogleService, google_error
from sandbox.seed_mail import SEED_SHEETS, SPREADSHEET_ID

A1 = re.compile(r"^(?:([A-Za-z]+)(\d+)?|(\d+))?(?::(?:([A-Za-z]+)(\d+)?|(\d+)))?$")


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _quote_sheet(name: str) -> str:
    return f"'{name}'" if re.search(r"[^A-Za-z0-9_]", name) else name


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SheetsService(GoogleService):
    name = "sheets"

    def reset(self) -> None:
        self.created = {}
        self.spreadsheets: dict[str, dict[str, list[list[Any]]]] = {
            SPREADSHEET_ID: {title: copy.deepcopy(rows) for title, rows in SEED_SHEETS.items()}
        }

    def fixtures(self) -> dict[str, Any]:
        return {"spreadsheet_id": SPREADSHEET_ID, "sheets": {k: v[0] for k, v in SEED_SHEETS.items()}}

    def endpoints(self) -> list[Endpoint]:
        base = "/v4/spreadsheets/{spreadsheet_id}/values/{range:.+}"
        return [
            Endpoint("GET", base, "spreadsheets.values.get", self.get_values),
            Endpoint("POST", base, "spreadsheets.values.append", self.append_values, write=True),
        ]

    def control_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/spreadsheets/{spreadsheet_id}", self.control_dump)]

    def _parse(self, book: dict[str, list[list[Any]]], a1: str) -> tuple[str, int, int | None, int, int | None]:
        """(sheet, first column, first row or None, last column, last row or None), zero-based."""
        sheet_part, bang, cells = a1.rpartition("!")
        if not bang:
            if a1.strip("'").replace("''", "'") in book:
                return a1.strip("'").replace("''", "'"), 0, None, 10**6, None
            sheet_part, cells = next(iter(book)), a1
        sheet = sheet_part[1:-1].replace("''", "'") if sheet_part.startswith("'") else sheet_part
        if sheet not in book:
            raise ValueError(a1)
        match = A1.match(cells)
        if not match:
            raise ValueError(a1)
        c1, r1, row_only1, c2, r2, row_only2 = match.groups()
        first_col = _col_index(c1) if c1 else 0
        first_row = int(r1 or row_only1) - 1 if (r1 or row_only1) else None
        if c2 or r2 or row_only2:
            last_col = _col_index(c2) if c2 else 10**6
            last_row = int(r2 or row_only2) - 1 if (r2 or row_only2) else None
        else:
            last_col = first_col if c1 else 10**6
            last_row = first_row
        return sheet, first_col, first_row, last_col, last_row

    async def get_values(self, request: web.Request) -> web.Response:
        spreadsheet_id = request.match_info["spreadsheet_id"]
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            return self.not_found()
        a1 = request.match_info["range"]
        try:
            sheet, c1, r1, c2, r2 = self._parse(book, a1)
        except ValueError:
            return self.bad_request(f"Unable to parse range: {a1}", "badRequest")
        rows = book[sheet]
        start = r1 or 0
        stop = len(rows) if r2 is None else min(r2 + 1, len(rows))
        values = [[_cell(v) for v in row[c1 : c2 + 1]] for row in rows[start:stop]]
        while values and not any(values[-1]):
            values.pop()
        body: dict[str, Any] = {
            "range": f"{_quote_sheet(sheet)}!{a1.rpartition('!')[2] or 'A1:Z1000'}",
            "majorDimension": "ROWS",
        }
        if values:
            body["values"] = values
        return json_response(body)

    async def append_values(self, request: web.Request) -> web.Response:
        spreadsheet_id = request.match_info["spreadsheet_id"]
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            return self.not_found()
        a1 = request.match_info["range"]
        if not a1.endswith(":append"):
            return google_error(404, "Method not found.", "notFound", "NOT_FOUND")
        a1 = a1[: -len(":append")]
        option = request.query.get("valueInputOption")
        if option is None:
            return self.bad_request("'valueInputOption' is required but not specified", "badRequest")
        if option not in ("RAW", "USER_ENTERED"):
            return self.bad_request(f"Invalid value at 'value_input_option' ({option})", "badRequest")
        try:
            sheet, c1, _r1, _c2, _r2 = self._parse(book, a1)
        except ValueError:
            return self.bad_request(f"Unable to parse range: {a1}", "badRequest")
        body = await self.json_body(request)
        values = (body or {}).get("values")
        if not isinstance(values, list) or not values or not all(isinstance(r, list) for r in values):
            return self.bad_request("Invalid values: 'values' must be a non-empty list of rows", "badRequest")
        rows = book[sheet]
        while rows and not any(v not in ("", None) for v in rows[-1]):
            rows.pop()
        table_range = (
            f"{_quote_sheet(sheet)}!A1:{_col_letters(max(len(r) for r in rows) - 1)}{len(rows)}" if rows else None
        )
        first = len(rows)
        for row in values:
            rows.append([None] * c1 + list(row))
            self.record_created(
                "rows", {"spreadsheet_id": spreadsheet_id, "sheet": sheet, "row_number": len(rows), "values": list(row)}
            )
        width = max(len(r) for r in values)
        updated = f"{_quote_sheet(sheet)}!{_col_letters(c1)}{first + 1}:{_col_letters(c1 + width - 1)}{len(rows)}"
        result: dict[str, Any] = {
            "spreadsheetId": spreadsheet_id,
            "updates": {
                "spreadsheetId": spreadsheet_id,
                "updatedRange": updated,
                "updatedRows": len(values),
                "updatedColumns": width,
                "updatedCells": sum(len(r) for r in values),
            },
        }
        if table_range:
            result["tableRange"] = table_range
        return json_response(result)

    async def control_dump(self, request: web.Request) -> web.Response:
        book = self.spreadsheets.get(request.match_info["spreadsheet_id"])
        if book is None:
            return control_error(f"no spreadsheet {request.match_info['spreadsheet_id']!r}", 404)
        return json_response({title: [[_cell(v) for v in row] for row in rows] for title, rows in book.items()})
