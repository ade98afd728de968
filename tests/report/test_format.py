"""Numbers, money and dates as a Russian and an English reader expect them."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from pipelines.report.format import NBSP, Formatter, language_of

RU, EN = Formatter("ru"), Formatter("en")
NB = "\u00a0"


def test_russian_groups_with_no_break_spaces_and_uses_a_decimal_comma():
    assert RU.number(1234567) == f"1{NB}234{NB}567"
    assert RU.number(1234.5, 1) == f"1{NB}234,5"
    assert RU.money(Decimal("1234567")) == f"1{NB}234{NB}567{NB}₽"
    assert RU.money(-1500) == f"−1{NB}500{NB}₽"
    assert RU.percent(0.125) == f"12,5{NB}%"
    assert RU.days(12.34) == f"12,3{NB}дн."
    assert RU.compact(1_250_000) == f"1,3{NB}млн" and RU.compact(350_000) == f"350{NB}тыс." and RU.compact(40) == "40"


def test_english_groups_with_commas_and_puts_the_currency_first():
    assert EN.number(1234567) == "1,234,567"
    assert EN.money(Decimal("1234567.4")) == "₽1,234,567"
    assert EN.money(-1500) == "−₽1,500"
    assert EN.percent(0.125) == "12.5%"
    assert EN.compact(1_000_000) == "1M" and EN.compact(12_500_000) == "13M"
    assert Formatter("en", "USD").money(99) == "$99"
    assert Formatter("en", "CHF").money(99) == f"CHF{NB}99"  # no symbol known: the code
    assert Formatter("ru", "USD", symbol="US$").money(5) == f"5{NB}US$"


def test_dates():
    day = date(2026, 10, 31)
    assert RU.date(day) == "31.10.2026" and EN.date(day) == "Oct 31, 2026"
    assert RU.month(day) == "Октябрь 2026" and EN.month(day) == "October 2026"
    assert RU.short_month(day) == "окт. 2026" and EN.short_month(day) == "Oct 2026"
    assert RU.day_month(day) == "31.10" and EN.day_month(day) == "Oct 31"
    assert RU.datetime(datetime(2026, 1, 2, 8, 5)) == "02.01.2026 08:05"


def test_rounding_is_half_up_and_never_shows_minus_zero():
    assert RU.number(Decimal("2.5")) == "3" and EN.number(0.125, 2) == "0.13"
    assert EN.number(-0.0001, 1) == "0.0"


@pytest.mark.parametrize("method", ["number", "money", "compact", "percent", "days", "hours_as_days", "minutes", "date"])
def test_missing_values_show_a_dash(method):
    assert getattr(RU, method)(None) == "—" and getattr(EN, method)(None) == "—"


def test_language_choice():
    assert language_of("ru") == "ru" and language_of("ru_RU") == "ru"
    assert language_of("en") == "en" and language_of("es") == "en" and language_of(None) == "en"
    with pytest.raises(ValueError, match="unsupported report language"):
        Formatter("de")


def test_response_times_read_in_the_unit_that_fits():
    assert RU.minutes(12.34) == f"12,3{NBSP}мин" and EN.minutes(119.9) == f"119.9{NBSP}min"
    assert RU.minutes(120) == f"2,0{NBSP}ч" and EN.minutes(2879) == f"48.0{NBSP}h"
    assert RU.minutes(2880) == f"2,0{NBSP}дн." and EN.minutes(3600) == f"2.5{NBSP}d"
