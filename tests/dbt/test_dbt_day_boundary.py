"""Calendar buckets are taken in the account timezone, not in UTC or the machine's/session's timezone.

The simulator plants wins at 23:30-23:59 Moscow time on the last day of a month and at 00:00-00:29
on the 1st. dbt runs with the session timezone set to Pacific/Kiritimati (UTC+14, see conftest), so:
a late win would fall into the next month if buckets followed the session timezone, an early one into
the previous month if they followed UTC.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from kpi_reference import month_end_wins

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]


def _date_in(seconds: int, zone: str):
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").tz_convert(ZoneInfo(zone)).date()


def test_wins_around_midnight_count_in_the_account_timezone_month(kpi_warehouse):
    truth = kpi_warehouse.truth
    late, early = month_end_wins(truth)
    assert len(late) and len(early), "the simulator plants wins on both sides of midnight at month ends"
    # the planted cases do tell the zones apart
    for lead in late.itertuples():
        assert _date_in(lead.closed_at, kpi_warehouse.dbt_session_timezone).month != lead.local_date.month
    for lead in early.itertuples():
        assert _date_in(lead.closed_at, "UTC").month != lead.local_date.month

    leads = kpi_warehouse.query("select lead_id, closed_date from marts.fct_leads").set_index("lead_id")
    kpi = kpi_warehouse.query(
        "select period_grain, period_start, pipeline_id, manager_id, deals_won from marts.fct_sales_kpi "
        "where period_grain in ('day', 'month')"
    ).set_index(["period_grain", "period_start", "pipeline_id", "manager_id"])["deals_won"]
    won = truth.leads[(truth.leads["status_id"] == 142) & ~truth.leads["is_deleted"].astype(bool)].copy()
    won["local_date"] = [_date_in(t, truth.account["timezone"]) for t in won["closed_at"]]
    won["month"] = [d.replace(day=1) for d in won["local_date"]]
    for lead in pd.concat([late, early]).itertuples():
        assert leads.at[lead.id, "closed_date"] == lead.local_date
        month = lead.local_date.replace(day=1)
        same_seller = won[(won["pipeline_id"] == lead.pipeline_id) & (won["responsible_user_id"] == lead.responsible_user_id)]
        expected_month = int((same_seller["month"] == month).sum())
        expected_day = int((same_seller["local_date"] == lead.local_date).sum())
        assert kpi.loc[("month", month, lead.pipeline_id, lead.responsible_user_id)] == expected_month
        assert kpi.loc[("day", lead.local_date, lead.pipeline_id, lead.responsible_user_id)] == expected_day
