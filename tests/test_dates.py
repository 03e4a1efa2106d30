"""Reading work-order dates: unambiguous forms as they are, ambiguous numeric ones only in a known order."""

from __future__ import annotations

from datetime import date

import pytest

from core.dates import AmbiguousDateError, UnreadableDateError, parse_date_order, read_date
from core.errors import ConfigurationError, InvalidInputError
from core.settings import Settings
from integrations.pdf_extract import ProfileRules, extract
from sandbox.pdf import text_pdf

JULY_4 = date(2024, 7, 4)
APRIL_7 = date(2024, 4, 7)


@pytest.mark.parametrize("order, expected", [("day_first", JULY_4), ("month_first", APRIL_7)])
@pytest.mark.parametrize("text", ["04/07/2024", "4/7/2024", "04.07.2024", "04-07-2024", "04/07/24"])
def test_an_ambiguous_numeric_date_is_read_in_the_order_given(text: str, order, expected: date) -> None:
    assert read_date(text, order=order) == expected


@pytest.mark.parametrize("text", ["04/07/2024", "04/07/24", "1.2.2025"])
def test_an_ambiguous_numeric_date_without_an_order_is_refused_naming_both_readings(text: str) -> None:
    with pytest.raises(AmbiguousDateError, match="ambiguous") as caught:
        read_date(text, order=None)
    assert "(day first)" in str(caught.value) and "(month first)" in str(caught.value)
    assert text in str(caught.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-07-04", JULY_4),
        ("2024/7/4", JULY_4),
        ("04 July 2024", JULY_4),
        ("4 Jul 2024", JULY_4),
        ("4th July 2024", JULY_4),
        ("04-Jul-2024", JULY_4),
        ("July 4, 2024", JULY_4),
        ("Jul 4 2024", JULY_4),
        ("july  4th, 2024", JULY_4),
        ("Sept 4, 2024", date(2024, 9, 4)),
        ("25/07/2024", date(2024, 7, 25)),  # 25 is no month: day first, whatever the order
        ("07/25/2024", date(2024, 7, 25)),  # and here month first
        ("25.07.24", date(2024, 7, 25)),
        ("05/05/2024", date(2024, 5, 5)),  # both readings are the same day
    ],
)
@pytest.mark.parametrize("order", ["day_first", "month_first", None])
def test_an_unambiguous_date_is_read_as_it_is_whatever_the_order(text: str, expected: date, order) -> None:
    assert read_date(text, order=order) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("31/02/2024", "February 2024 has no day 31"),
        ("02/31/2024", "February 2024 has no day 31"),
        ("29/02/2023", "February 2023 has no day 29"),
        ("13/13/2024", "neither 13 nor 13 is a month"),
        ("2024-13-01", "there is no month 13"),
        ("30 February 2024", "February 2024 has no day 30"),
        ("4 Juli 2024", "'Juli' is not a month"),
        ("next Tuesday", "not a date in a form we read"),
        ("04/07-2024", "not a date in a form we read"),
    ],
)
@pytest.mark.parametrize("order", ["day_first", "month_first", None])
def test_a_day_that_does_not_exist_is_refused_with_the_reason(text: str, reason: str, order) -> None:
    with pytest.raises(UnreadableDateError, match=reason) as caught:
        read_date(text, order=order)
    assert not isinstance(caught.value, AmbiguousDateError)


def test_a_leap_day_is_a_day() -> None:
    assert read_date("29/02/2024", order=None) == date(2024, 2, 29)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("day_first", "day_first"),
        ("Month-First", "month_first"),
        (" MONTH_FIRST ", "month_first"),
        ("none", None),
        ("", None),
        (None, None),
    ],
)
def test_date_orders_are_read_from_text(text: str | None, expected: str | None) -> None:
    assert parse_date_order(text) == expected


@pytest.mark.parametrize("text", ["dmy", "us", "first", "day first please"])
def test_a_bad_date_order_is_refused_naming_the_choices(text: str) -> None:
    with pytest.raises(InvalidInputError, match="day_first, month_first or 'none'"):
        parse_date_order(text)


def test_the_deployment_default_is_day_first_and_can_be_none_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_DATE_ORDER", raising=False)
    assert Settings(_env_file=None).date_order == "day_first"
    for value, expected in (("month_first", "month_first"), ("none", None), ("", None)):
        monkeypatch.setenv("INTAKE_DATE_ORDER", value)
        assert Settings(_env_file=None).date_order == expected
    monkeypatch.setenv("INTAKE_DATE_ORDER", "sideways")
    with pytest.raises(ConfigurationError, match="INTAKE_DATE_ORDER 'sideways' is not one of"):
        _ = Settings(_env_file=None).date_order


# -- through extraction: the profile's order, else the default, else a warning ----------------------------

US = ProfileRules(fm_key="us", display_name="US Facilities", text_markers=["US Facilities"], date_order="month_first")
ANY = ProfileRules(fm_key="default", display_name="Any facility manager", is_default=True)


def work_order(*lines: str) -> bytes:
    return text_pdf(["WORK ORDER", "Work Order Number: WO-1", *lines])


def test_the_profiles_date_order_wins_over_the_default() -> None:
    pdf = work_order("Client: US Facilities", "Date: 04/07/2024", "Signed date: 03/02/2024")
    read = extract(pdf, [ANY, US], default_date_order="day_first")
    assert read.fm_key == "us"
    assert (read.fields.scheduled_date, read.fields.signed_on) == (APRIL_7, date(2024, 3, 2))
    assert read.warnings == []


def test_a_profile_without_an_order_uses_the_default() -> None:
    pdf = work_order("Date: 04/07/2024")
    assert extract(pdf, [ANY, US], default_date_order="day_first").fields.scheduled_date == JULY_4
    assert extract(pdf, [ANY, US], default_date_order="month_first").fields.scheduled_date == APRIL_7


def test_an_ambiguous_date_with_no_order_is_left_empty_with_a_warning_naming_the_field_and_text() -> None:
    pdf = work_order("Date: 04/07/2024", "Signed date: 25/07/2024", "Amount: 10.00")
    read = extract(pdf, [ANY, US], default_date_order=None)
    assert read.fields.scheduled_date is None
    assert read.fields.signed_on == date(2024, 7, 25)  # not ambiguous: read
    assert str(read.fields.amount) == "10.00"  # the other fields are read as ever
    [warning] = read.warnings
    assert (warning.field, warning.text) == ("scheduled_date", "04/07/2024")
    assert "ambiguous" in warning.message and "FM profile 'default'" in warning.message


def test_an_invalid_date_is_left_empty_with_a_warning_whatever_the_order() -> None:
    pdf = work_order("Client: US Facilities", "Date: 31/02/2024")
    read = extract(pdf, [US], default_date_order="day_first")
    assert read.fields.scheduled_date is None
    [warning] = read.warnings
    assert (warning.field, warning.text) == ("scheduled_date", "31/02/2024")
    assert "February 2024 has no day 31" in warning.message
