"""Cell parsers of the user CSV files: forgiving where Excel's habits are unambiguous, strict elsewhere.

Russian Excel writes `1 000,50` (a space, often a non-breaking one, between thousands and a decimal
comma) and dates as `01.03.2026`; both are read. What could mean two things is refused with the
forms that are accepted: `1,000` (one thousand, or one with a decimal comma?), `03/01/2026` (March or
January?). Each parser raises `ValueError` with a message meant for the person who edits the file.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
_DOTTED_MONTH = re.compile(r"^(?:(\d{1,2})\.)?(\d{1,2})\.(\d{4})$")  # DD.MM.YYYY or MM.YYYY
# Spaces Excel and people put between thousands: plain, no-break (U+00A0), narrow no-break (U+202F), thin.
_GROUP_SPACES = " \u00a0\u202f\u2009"
_GROUPED = re.compile(rf"^\d{{1,3}}(?:[{_GROUP_SPACES}]\d{{3}})+$")
_AMOUNT = re.compile(r"^(\d+)(?:[.,](\d{1,2}))?$")
_THREE_DECIMALS = re.compile(r"^\d{1,3}[.,]\d{3}$")
_MAX_DIGITS = 16  # decimal(18, 2)
_COUNT = re.compile(r"^\d{1,9}$")

MONTH_FORMS = "YYYY-MM, YYYY-MM-DD or DD.MM.YYYY"
AMOUNT_FORMS = "125000, 95000.50 or 1 000,50 (at most 2 decimals after '.' or ','; spaces between thousands)"


def parse_month(text: str) -> date:
    """The first day of the month `text` names."""
    iso, dotted = _ISO_MONTH.match(text), _DOTTED_MONTH.match(text)
    if iso:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3] or 1)
    elif dotted:
        day, month, year = int(dotted[1] or 1), int(dotted[2]), int(dotted[3])
    else:
        raise ValueError(f"{text!r} is not a month; write {MONTH_FORMS}")
    try:
        date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date; write {MONTH_FORMS}") from None
    return date(year, month, 1)


def parse_amount(text: str) -> Decimal:
    """A money amount >= 0 with at most 2 decimals."""
    if _THREE_DECIMALS.match(text):
        raise ValueError(
            f"{text!r} is ambiguous (a thousands separator or a decimal point?); write it without the "
            f"separator, or with 2 decimals, e.g. {AMOUNT_FORMS}"
        )
    whole, _, decimals = _split_decimals(text)
    if _GROUPED.match(whole):
        whole = re.sub(f"[{_GROUP_SPACES}]", "", whole)
    match = _AMOUNT.match(whole + (f".{decimals}" if decimals is not None else ""))
    if not match or len(match[1]) > _MAX_DIGITS:
        raise ValueError(f"{text!r} is not an amount >= 0; write e.g. {AMOUNT_FORMS}")
    return Decimal(f"{match[1]}.{match[2] or '0'}")


def _split_decimals(text: str) -> tuple[str, str, str | None]:
    """`1 000,50` -> ('1 000', ',', '50'); the last '.' or ',' separates the decimals."""
    position = max(text.rfind("."), text.rfind(","))
    if position < 0:
        return text, "", None
    return text[:position], text[position], text[position + 1:]


def parse_count(text: str) -> int:
    """A whole number >= 0."""
    if not _COUNT.match(text):
        raise ValueError(f"{text!r} is not a whole number >= 0 (of at most 9 digits)")
    return int(text)
