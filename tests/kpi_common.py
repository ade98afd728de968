"""Shared pieces of the independent KPI reference (kpi_reference and its parts): calendar periods,
ratios rounded as the marts round them, and the month-end wins the day-boundary tests look for."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

WON, LOST = 142, 143
GRAINS = ("day", "week", "month")
ENTITY = {"leads": "lead", "contacts": "contact", "companies": "company"}


def money_ratio(amount: Any, count: int) -> Decimal | None:
    """amount / count rounded half up to cents; None when count is 0."""
    if not count:
        return None
    return (Decimal(str(amount)) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def period_start(day: Any, grain: str) -> Any:
    """First day of the period of `grain` containing the date `day`."""
    if grain == "day":
        return day
    if grain == "week":
        return day - pd.Timedelta(days=day.weekday())
    return day.replace(day=1)


def _percentile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.quantile(q))


def month_end_wins(truth: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Live won leads closed at 23:30-23:59 on a month's last day / at 00:00-00:29 on the 1st (account
    timezone): the day-boundary cases the simulator plants. Each frame has a `local_date` column."""
    leads = truth.leads
    won = leads[(leads["status_id"] == WON) & ~leads["is_deleted"].astype(bool)].copy()
    local = pd.to_datetime(won["closed_at"].astype("int64"), unit="s", utc=True).dt.tz_convert(truth.account["timezone"])
    won["local_date"] = local.dt.date
    late = won[local.dt.is_month_end & (local.dt.hour == 23) & (local.dt.minute >= 30)]
    early = won[(local.dt.day == 1) & (local.dt.hour == 0) & (local.dt.minute < 30)]
    return late, early
