"""Reading the dates that documents carry, without guessing the order of day and month.

`25/07/2024` can only be 25 July, and `2024-07-04`, `04 July 2024` and
`July 4, 2024` say which part is the month; those are read as they are.
`04/07/2024` is 4 July to a day-first sender and 7 April to a month-first
one: such an ambiguous numeric date is read in the order the caller gives
(an FM profile's, else the deployment's INTAKE_DATE_ORDER), and with no order
it is refused (:class:`AmbiguousDateError`), never guessed. A numeric date
whose two readings are the same day (`05/05/2024`) is not ambiguous.

Numeric dates take `/`, `.` or `-` between their parts (the same one twice);
a two-digit year is read as 20yy (a work order from the last century is not
something we receive). Month names are English, in full or abbreviated
(`Jul`, `Sept`), with an optional ordinal suffix on the day (`4th`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from core.errors import InvalidInputError

DateOrder = Literal["day_first", "month_first"]
DATE_ORDERS: tuple[DateOrder, ...] = ("day_first", "month_first")
# What INTAKE_DATE_ORDER and the CLI accept for "no order: leave ambiguous dates empty".
NO_DATE_ORDER = "none"


class UnreadableDateError(InvalidInputError):
    """A date's text is not a date in a form we read, or names a day that does not exist."""


class AmbiguousDateError(UnreadableDateError):
    """A numeric date reads as two different days and no date order says which one is meant."""


def parse_date_order(value: str | None, *, what: str = "date order") -> DateOrder | None:
    """`day_first` / `month_first` (any case, `-` for `_`), or None for empty or `none`; else InvalidInputError."""
    normalised = (value or "").strip().lower().replace("-", "_")
    if normalised in ("", NO_DATE_ORDER):
        return None
    for order in DATE_ORDERS:
        if normalised == order:
            return order
    raise InvalidInputError(f"{what} {value!r} is not one of {', '.join(DATE_ORDERS)} or {NO_DATE_ORDER!r}")


# English names, spelled out rather than taken from `calendar` (whose names follow the locale).
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS: dict[str, int] = {
    **{name.lower(): number for number, name in enumerate(MONTH_NAMES, start=1)},
    **{name[:3].lower(): number for number, name in enumerate(MONTH_NAMES, start=1)},
    "sept": 9,
}
_ORDINAL = r"(?:st|nd|rd|th)?"
_ISO = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_NUMERIC = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})")
_DAY_MONTH_NAME = re.compile(rf"(\d{{1,2}}){_ORDINAL}[ .-]+([a-z]+)\.?,?[ .-]+(\d{{4}})", re.IGNORECASE)
_MONTH_NAME_DAY = re.compile(rf"([a-z]+)\.?[ ]+(\d{{1,2}}){_ORDINAL},?[ ]+(\d{{4}})", re.IGNORECASE)


def read_date(text: str, *, order: DateOrder | None) -> date:
    """The day `text` names; `order` decides an ambiguous numeric date (None: refuse it).

    Raises AmbiguousDateError when `text` reads as two days and `order` is None,
    UnreadableDateError when it is no date we read or a day that does not exist
    (`31/02/2024`).
    """
    value = " ".join(text.split())
    if match := _ISO.fullmatch(value):
        year, _, month, day = match.groups()
        return _day(value, int(year), int(month), int(day))
    if match := _NUMERIC.fullmatch(value):
        first, _, second, year_text = match.groups()
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _numeric(value, int(first), int(second), year, order)
    if match := _DAY_MONTH_NAME.fullmatch(value):
        day, month_name, year = match.groups()
        return _day(value, int(year), _month(value, month_name), int(day))
    if match := _MONTH_NAME_DAY.fullmatch(value):
        month_name, day, year = match.groups()
        return _day(value, int(year), _month(value, month_name), int(day))
    raise UnreadableDateError(
        f"{text!r} is not a date in a form we read (2024-07-04, 25/07/2024, 4 July 2024, July 4, 2024)"
    )


def _numeric(text: str, first: int, second: int, year: int, order: DateOrder | None) -> date:
    """A day/month or month/day date: the reading that exists, or the one `order` picks."""
    readings: dict[DateOrder, date] = {}
    parts: tuple[tuple[DateOrder, tuple[int, int]], ...] = (
        ("day_first", (first, second)),
        ("month_first", (second, first)),
    )
    for reading, (day, month) in parts:
        try:
            readings[reading] = date(year, month, day)
        except ValueError:
            continue
    if not readings:
        if not 1 <= first <= 12 and not 1 <= second <= 12:
            raise UnreadableDateError(f"{text!r} is not a date: neither {first} nor {second} is a month")
        # At least one part is a month: name the day that month lacks (31/02: February has no 31st).
        month, day = (second, first) if 1 <= second <= 12 else (first, second)
        raise UnreadableDateError(f"{text!r} is not a date: {_no_such_day(year, month, day)}")
    days = set(readings.values())
    if len(days) == 1:
        return days.pop()
    if order is None:
        raise AmbiguousDateError(
            f"{text!r} is ambiguous: {_spoken(readings['day_first'])} (day first) or "
            f"{_spoken(readings['month_first'])} (month first), and no date order is set"
        )
    return readings[order]


def _month(text: str, name: str) -> int:
    month = _MONTHS.get(name.lower())
    if month is None:
        raise UnreadableDateError(f"{text!r} is not a date: {name!r} is not a month")
    return month


def _day(text: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        reason = f"there is no month {month}" if not 1 <= month <= 12 else _no_such_day(year, month, day)
        raise UnreadableDateError(f"{text!r} is not a date: {reason}") from None


def _no_such_day(year: int, month: int, day: int) -> str:
    return f"{MONTH_NAMES[month - 1]} {year} has no day {day}"


def _spoken(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"
