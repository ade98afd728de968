"""Locale-aware display of numbers, money and dates for the report (ru and en).

Written out by hand instead of relying on the OS locale: the report must look
the same on a CI runner, a server and a laptop, whatever locales they have.
Every formatter returns `MISSING` for a missing value, so templates never
print "None".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

LANGUAGES = ("ru", "en")
MISSING = "—"
NBSP = "\u00a0"
MINUS = "\u2212"

CURRENCY_SYMBOLS = {"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "KZT": "₸", "UAH": "₴", "BYN": "Br"}

_MONTHS = {
    "ru": ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь",
           "Июль", "Август", "Сентябрь", "Октябрь", "Ноябрь", "Декабрь"),
    "en": ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December"),
}
_MONTHS_SHORT = {
    "ru": ("янв.", "февр.", "март", "апр.", "май", "июнь", "июль", "авг.", "сент.", "окт.", "нояб.", "дек."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
# Compact magnitudes for chart axes: (threshold, ru suffix, en suffix).
_MAGNITUDES = ((10**9, "млрд", "B"), (10**6, "млн", "M"), (10**3, "тыс.", "K"))


DURATION_UNITS = {"min": 1, "h": 60, "d": 1440}  # minutes per unit


def duration_unit(minutes: float) -> str:
    """Minutes below 2 hours, hours below 2 days, days beyond."""
    return "min" if minutes < 120 else ("h" if minutes < 2880 else "d")


def language_of(value: str | None) -> str:
    """The report language for an amoCRM account language: Russian stays, anything else is English."""
    return "ru" if (value or "").lower().startswith("ru") else "en"


@dataclass(frozen=True)
class Formatter:
    language: str = "ru"
    currency: str = "RUB"
    symbol: str | None = None  # the account's own currency symbol, when it has one

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unsupported report language {self.language!r}; expected one of {LANGUAGES}")

    @property
    def currency_sign(self) -> str:
        return self.symbol or CURRENCY_SYMBOLS.get(self.currency.upper(), self.currency.upper())

    # numbers

    def number(self, value: int | float | Decimal | None, decimals: int = 0) -> str:
        if value is None:
            return MISSING
        rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        if rounded == 0:
            rounded = abs(rounded)  # no "-0"
        text = f"{abs(rounded):,.{decimals}f}"
        if self.language == "ru":
            text = text.replace(",", NBSP).replace(".", ",")
        return (MINUS if rounded < 0 else "") + text

    def money(self, value: int | float | Decimal | None) -> str:
        """Whole currency units: `1 234 567 ₽` (ru), `₽1,234,567` (en)."""
        if value is None:
            return MISSING
        text = self.number(value)
        sign, digits = (MINUS, text[1:]) if text.startswith(MINUS) else ("", text)
        if self.language == "ru":
            return f"{sign}{digits}{NBSP}{self.currency_sign}"
        sep = "" if len(self.currency_sign) == 1 else NBSP
        return f"{sign}{self.currency_sign}{sep}{digits}"

    def compact(self, value: int | float | Decimal | None) -> str:
        """Short axis numbers: `1,2 млн` / `1.2M`."""
        if value is None:
            return MISSING
        for threshold, ru, en in _MAGNITUDES:
            if abs(value) >= threshold:
                scaled = Decimal(str(value)) / threshold
                text = self.number(scaled, 1 if abs(scaled) < 10 else 0)
                text = text.removesuffix(",0" if self.language == "ru" else ".0")
                return f"{text}{NBSP}{ru}" if self.language == "ru" else f"{text}{en}"
        return self.number(value, 0 if float(value).is_integer() else 1)

    def percent(self, ratio: float | None, decimals: int = 1) -> str:
        """A ratio as a percentage: 0.125 -> `12,5 %` / `12.5%`."""
        if ratio is None:
            return MISSING
        text = self.number(ratio * 100, decimals)
        return f"{text}{NBSP}%" if self.language == "ru" else f"{text}%"

    def days(self, value: float | None) -> str:
        if value is None:
            return MISSING
        return f"{self.number(value, 1)}{NBSP}{'дн.' if self.language == 'ru' else 'd'}"

    def minutes(self, value: float | None) -> str:
        """A span given in minutes, in the unit a reader takes in at once: `12,5 мин`, `5,3 ч`, `2,2 дн.`."""
        if value is None:
            return MISSING
        unit = duration_unit(value)
        return f"{self.number(value / DURATION_UNITS[unit], 1)}{NBSP}{self.unit_name(unit)}"

    def unit_name(self, unit: str) -> str:
        return {"min": ("мин", "min"), "h": ("ч", "h"), "d": ("дн.", "d")}[unit][self.language != "ru"]

    def hours_as_days(self, hours: float | None) -> str:
        return MISSING if hours is None else self.days(hours / 24)

    # dates

    def date(self, value: date | None) -> str:
        """`31.10.2026` / `Oct 31, 2026`."""
        if value is None:
            return MISSING
        if self.language == "ru":
            return value.strftime("%d.%m.%Y")
        return f"{_MONTHS_SHORT['en'][value.month - 1]} {value.day}, {value.year}"

    def datetime(self, value: datetime) -> str:
        return f"{self.date(value.date())} {value:%H:%M}"

    def month(self, value: date) -> str:
        """`Октябрь 2026` / `October 2026`."""
        return f"{_MONTHS[self.language][value.month - 1]} {value.year}"

    def day_month(self, value: date) -> str:
        """`31.10` / `Oct 31`: axis labels of days and weeks."""
        if self.language == "ru":
            return value.strftime("%d.%m")
        return f"{_MONTHS_SHORT['en'][value.month - 1]} {value.day}"

    def short_month(self, value: date) -> str:
        """`окт. 2026` / `Oct 2026`: axis labels of months."""
        return f"{_MONTHS_SHORT[self.language][value.month - 1]} {value.year}"
