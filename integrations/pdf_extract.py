"""Reading work-order PDFs: the text with pypdf, the fields by the workspace's FM profile.

Not an outside service, but it sits with them: a pure function of the PDF's
bytes and the profiles, used by the ingestion activities, the bench and tests.

An FM profile (table fm_profiles) says whose PDFs it reads (sender domains, or
text markers for a file without a sender) and may override the regular
expression of any field; every field falls back to :data:`DEFAULT_PATTERNS`,
which read the "Label: value" lines that work orders usually carry. A PDF
that cannot be read, has no text, or yields no work order number raises
:class:`ExtractionError`: a clear failure, never half the fields.

Dates are read by :func:`core.dates.read_date`: an ambiguous numeric date
(04/07/2024) in the order of the profile (`date_order`), else the caller's
default (INTAKE_DATE_ORDER). A date that cannot be read (ambiguous with no
order, 31/02/2024, text that is no date) is left empty and named in
:attr:`Extraction.warnings`, so the extraction run records what was not stored.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from core.dates import AmbiguousDateError, DateOrder, UnreadableDateError, read_date
from core.errors import InvalidInputError

# pypdf reports every oddity of a malformed file as a warning; the failure we raise says enough.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_LINE = r"^[ \t]*{label}[ \t]*[:#][ \t]*(.+?)[ \t]*$"
DEFAULT_PATTERNS: dict[str, str] = {
    "work_order_number": (
        r"\b(?:work[ \t]*order|w\.?o\.?)[ \t]*(?:number|no\.?|#)"
        r"[ \t]*[:#]?[ \t]*([A-Z0-9][A-Z0-9/-]{2,})"
    ),
    "facility_manager": _LINE.format(label=r"(?:facility[ \t]+manager|fm|client)"),
    "site": _LINE.format(label=r"(?:site|service[ \t]+address|location)"),
    "scheduled_date": _LINE.format(label=r"(?:scheduled[ \t]+)?date"),
    "amount": _LINE.format(label=r"(?:amount|total|nte)"),
    "description": _LINE.format(label=r"(?:description|scope|work[ \t]+required)"),
    "signed_by": _LINE.format(label=r"signed[ \t]+by"),
    "signed_on": _LINE.format(label=r"signed[ \t]+(?:date|on)"),
}
MAX_AMOUNT = Decimal("9999999999.99")  # numeric(12, 2)
MAX_PAGES = 50


class ExtractionError(InvalidInputError):
    """A PDF could not be read, holds no text, or yields no work order number."""


class ProfileRules(BaseModel):
    """What extraction needs of one fm_profiles row."""

    fm_key: str
    display_name: str
    sender_domains: list[str] = []
    text_markers: list[str] = []
    field_patterns: dict[str, str] = {}
    is_default: bool = False
    date_order: DateOrder | None = None


class ExtractedFields(BaseModel):
    work_order_number: str
    facility_manager: str | None = None
    site: str | None = None
    scheduled_date: date | None = None
    amount: Decimal | None = None
    description: str | None = None
    signed_by: str | None = None
    signed_on: date | None = None


class ExtractionWarning(BaseModel):
    """A field whose text was found but not stored, and why."""

    field: str
    text: str
    message: str

    def line(self) -> str:
        """One line for a person: the field, then why its text was not stored."""
        return f"{self.field}: {self.message}"


class Extraction(BaseModel):
    fm_key: str | None
    fields: ExtractedFields
    text_chars: int
    warnings: list[ExtractionWarning] = []


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pdf_text(data: bytes) -> str:
    """Every page's text, pages separated by a blank line."""
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ExtractionError("not a PDF: the file does not start with %PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("the PDF is encrypted")
        pages = reader.pages[:MAX_PAGES]
        return "\n\n".join(page.extract_text() or "" for page in pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as err:
        # pypdf raises its own errors for broken files, and plain ones from deeper inside them.
        raise ExtractionError(f"not a readable PDF: {type(err).__name__}: {err}") from err


def choose_profile(profiles: Sequence[ProfileRules], *, sender: str | None, text: str) -> ProfileRules | None:
    """The sender's FM by email domain, else the first whose text marker the PDF shows, else the default."""
    domain = sender.rpartition("@")[2].strip(" >").lower() if sender and "@" in sender else None
    if domain:
        for profile in profiles:
            if domain in (d.lower() for d in profile.sender_domains):
                return profile
    lowered = text.lower()
    for profile in profiles:
        if any(marker.lower() in lowered for marker in profile.text_markers):
            return profile
    return next((p for p in profiles if p.is_default), None)


def extract(
    data: bytes,
    profiles: Sequence[ProfileRules],
    *,
    sender: str | None = None,
    default_date_order: DateOrder | None,
) -> Extraction:
    """The fields of one PDF; raises ExtractionError when it has no work order number.

    An ambiguous numeric date is read in the profile's date order, else in
    `default_date_order`; with neither it is left empty, with a warning.
    """
    text = pdf_text(data)
    if not text.strip():
        raise ExtractionError("the PDF has no text layer (a scan?); nothing to read a work order from")
    profile = choose_profile(profiles, sender=sender, text=text)
    patterns = {**DEFAULT_PATTERNS, **(profile.field_patterns if profile else {})}
    found = {field: _search(pattern, text) for field, pattern in patterns.items()}
    number = found.get("work_order_number")
    if not number:
        used = f"FM profile {profile.fm_key!r}" if profile else "the default patterns"
        raise ExtractionError(f"no work order number found in the PDF's text (read with {used})")
    dates = _DateReader(profile, default_date_order)
    fields = ExtractedFields(
        work_order_number=number.upper(),
        facility_manager=found.get("facility_manager"),
        site=found.get("site"),
        scheduled_date=dates.read("scheduled_date", found.get("scheduled_date")),
        amount=parse_amount(found.get("amount")),
        description=found.get("description"),
        signed_by=found.get("signed_by"),
        signed_on=dates.read("signed_on", found.get("signed_on")),
    )
    fields.facility_manager = facility_manager_for(fields.facility_manager, profile)
    return Extraction(
        fm_key=profile.fm_key if profile else None, fields=fields, text_chars=len(text), warnings=dates.warnings
    )


def _search(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        return None
    value = (match.group(1) if match.groups() else match.group(0)).strip()
    return value or None


def facility_manager_for(given: str | None, profile: ProfileRules | None) -> str | None:
    """The facility manager a work order names, else its FM profile's name (not the default's)."""
    if given is None and profile is not None and not profile.is_default:
        return profile.display_name
    return given


def date_order_for(profile: ProfileRules | None, default_order: DateOrder | None) -> DateOrder | None:
    """How a work order's ambiguous numeric dates read: its FM profile's order, else the default."""
    return profile.date_order if profile is not None and profile.date_order else default_order


class _DateReader:
    """Reads one PDF's dates in its profile's order (else the default), keeping a warning per date not read."""

    def __init__(self, profile: ProfileRules | None, default_order: DateOrder | None) -> None:
        self._profile = profile
        self._order = date_order_for(profile, default_order)
        self.warnings: list[ExtractionWarning] = []

    def read(self, field: str, value: str | None) -> date | None:
        if not value:
            return None
        try:
            return read_date(value, order=self._order)
        except AmbiguousDateError as err:
            whose = f"FM profile {self._profile.fm_key!r}" if self._profile else "no FM profile"
            message = f"{err} ({whose} sets none, nor does INTAKE_DATE_ORDER); left empty rather than guessed"
        except UnreadableDateError as err:
            message = f"{err}; left empty"
        self.warnings.append(ExtractionWarning(field=field, text=value, message=message))
        return None


def parse_amount(value: str | None) -> Decimal | None:
    """'1,250.00', '$ 380.5', 'USD 95' -> Decimal with two places; None when it is not an amount."""
    if not value:
        return None
    digits = re.sub(r"[^0-9.\-]", "", value)
    try:
        amount = Decimal(digits).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return amount if abs(amount) <= MAX_AMOUNT else None
