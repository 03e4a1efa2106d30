"""The CSV file of an ETL batch of work orders: its header, its records and how they split.

A batch file is UTF-8 text (a byte-order mark is allowed) in CSV with a header line. The
header names columns of `COLUMNS`, `work_order_number` among them, each once, in any order;
a column left out is empty on every row. The three columns `intake batch errors --csv`
adds in front (`ANNOTATION_COLUMNS`: the row, the column and the reason of an error) are
accepted and ignored, so a file of error rows re-imports as it is once fixed.

A file that is not such text (undecodable bytes, NUL bytes, a quoted field never closed) or
whose header is wrong is refused as a whole (`MalformedFileError`) before anything is
written; what is wrong with one row (a missing number, an amount that is no amount, a field
too many) is that row's error, found when its chunk runs.

Records are found by quote parity, without parsing: a line ends its record when the
record's double quotes so far are balanced (RFC 4180 escapes a quote as two), so a quoted
field may hold line breaks. Rows are numbered from 1 after the header, blank lines not
counted; a record's bytes are located by offsets into the file, which is how a chunk reads
its rows from the stored file without the others.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import NamedTuple

from core.errors import MalformedFileError

COLUMNS = (
    "work_order_number",
    "fm_key",
    "facility_manager",
    "site",
    "scheduled_date",
    "amount",
    "description",
)
REQUIRED = ("work_order_number",)
ANNOTATION_COLUMNS = ("error_row", "error_column", "error_reason")
MAX_FILE_BYTES = 200 * 1024 * 1024


class Record(NamedTuple):
    """One data row's place in the file: its number and its bytes `data[start:end]` (no line break)."""

    row_number: int
    start: int
    end: int


def check_file(data: bytes) -> tuple[list[str], int]:
    """The header's columns and the offset where the rows start; MalformedFileError when the
    file is no batch file (see the module's docstring). Reads the whole file once."""
    columns, body = check_header(data)
    split_records(data, body)  # every quote closed
    return columns, body


def check_header(data: bytes) -> tuple[list[str], int]:
    """What `check_file` checks but the rows' quotes (which `split_records` checks as it goes)."""
    if len(data) > MAX_FILE_BYTES:
        raise MalformedFileError(f"the file is {len(data)} bytes; a batch file is at most {MAX_FILE_BYTES}")
    if b"\x00" in data:
        raise MalformedFileError("not a CSV file: it holds NUL bytes (a binary file?)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedFileError(f"not a CSV file: byte {err.start} is not UTF-8 text") from None
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    first = next(_records(data, start), None)
    if first is None:
        raise MalformedFileError("the file is empty: a batch file starts with a header line")
    header_start, header_end, balanced = first
    if not balanced:
        raise MalformedFileError("the header line opens a quoted field it never closes")
    columns = [name.strip() for name in _fields(data[header_start:header_end])]
    _check_header(columns)
    body = data.find(b"\n", header_end)
    return columns, len(data) if body < 0 else body + 1


def _check_header(columns: list[str]) -> None:
    known = set(COLUMNS) | set(ANNOTATION_COLUMNS)
    expected = ", ".join(COLUMNS)
    for name in columns:
        if name not in known:
            raise MalformedFileError(f"wrong header: unknown column {name!r}; the columns are {expected}")
    for name in set(columns):
        if columns.count(name) > 1:
            raise MalformedFileError(f"wrong header: column {name!r} appears {columns.count(name)} times")
    for name in REQUIRED:
        if name not in columns:
            raise MalformedFileError(f"wrong header: no {name!r} column; the columns are {expected}")


def split_records(data: bytes, start: int = 0) -> list[Record]:
    """Every non-blank record of `data[start:]`, numbered from 1, with its offsets into `data`.

    A record that opens a quoted field it never closes (it would swallow the rest of the
    file) is a MalformedFileError.
    """
    found: list[Record] = []
    append, find, count = found.append, data.find, data.count
    size = len(data)
    position = start
    while position < size:
        record_start = position
        quotes = 0
        while True:
            newline = find(b"\n", position)
            line_end = size if newline < 0 else newline
            quotes += count(b'"', position, line_end)
            position = line_end + 1
            if not quotes & 1 or newline < 0:
                break
        if quotes & 1:
            raise MalformedFileError(
                f"row {len(found) + 1} opens a quoted field that is never closed (a quote missing?)"
            )
        end = line_end - 1 if line_end > record_start and data[line_end - 1] == 13 else line_end  # \r
        if data[record_start:end].strip():
            append(Record(len(found) + 1, record_start, end))
    return found


def field_of(data: bytes, record: Record, index: int) -> str:
    """Field `index` of one record (empty when the record has fewer): split on commas when no
    field up to it is quoted, which is most records, else parsed."""
    raw = data[record.start : record.end]
    parts = raw.split(b",", index + 1)
    if not any(b'"' in part for part in parts[: index + 1]):
        return parts[index].decode("utf-8") if index < len(parts) else ""
    values = parse_record(raw.decode("utf-8"))
    return values[index] if index < len(values) else ""


def parse_record(text: str) -> list[str]:
    """The fields of one record's text."""
    return _fields_of(text)


def parse_records(texts: list[str]) -> list[list[str]]:
    """The fields of each record's text (one reader for them all: the fast way)."""
    try:
        return list(csv.reader(texts, strict=True))
    except csv.Error:
        return [_fields_of(text) for text in texts]


def _records(data: bytes, start: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, quotes balanced) of each record from `start` on, blank ones included."""
    position = start
    size = len(data)
    while position < size:
        record_start = position
        quotes = 0
        while True:
            newline = data.find(b"\n", position)
            line_end = size if newline < 0 else newline
            quotes += data.count(b'"', position, line_end)
            position = size if newline < 0 else newline + 1
            if quotes % 2 == 0 or newline < 0:
                break
        end = line_end
        if end > record_start and data[end - 1 : end] == b"\r":
            end -= 1
        yield record_start, end, quotes % 2 == 0


def _fields(raw: bytes) -> list[str]:
    return _fields_of(raw.decode("utf-8"))


def _fields_of(text: str) -> list[str]:
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error:
        # A stray quote inside an unquoted field: read it loosely, as spreadsheets write it.
        return next(csv.reader([text]), [])
