"""The morning-check sections (issue 15) recomputed from the marts with pandas, and the comparison.

Independent of `pipelines.report.morning`: each mart is read whole into a
DataFrame and filtered and summed here, so a wrong filter, a wrong snapshot day
or a roll-up slip in the report shows up as a difference.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from report_page import ReportPage

from pipelines.report.data import TREND_LENGTH

COUNTS = ["leads_created", "leads_responded", "responded_within_sla", "leads_sla_elapsed", "touches_24h",
          "leads_without_touch_14d"]
HYGIENE = ["open_deals", "open_without_next_task", "open_with_overdue_task", "open_without_price",
           "open_without_contact", "open_missing_required", "stuck_deals"]
NOT_SPECIFIED = {"ru": "Не указано", "en": "Not specified"}


def _frame(con, table: str) -> pd.DataFrame:
    return con.execute(f"select * from marts.{table}").df()


def _same(shown: str, expected, what: str) -> None:
    if expected is None or (isinstance(expected, float) and pd.isna(expected)):
        assert shown == "", f"{what}: expected no value, the report has {shown!r}"
    else:
        assert shown != "", f"{what}: expected {expected}, the report has none"
        assert float(shown) == pytest.approx(float(expected), rel=1e-9, abs=1e-9), what


def _response_figures(rows: pd.DataFrame) -> dict[str, float | None]:
    sums = {c: rows[c].sum() for c in COUNTS}
    medians = rows[rows["first_response_minutes_median"].notna()]
    weight = medians["leads_responded"].sum()

    def weighted(column: str):
        return (medians[column] * medians["leads_responded"]).sum() / weight if weight else None

    return {
        **sums,
        "sla_share": sums["responded_within_sla"] / sums["leads_sla_elapsed"] if sums["leads_sla_elapsed"] else None,
        "first_response_median": weighted("first_response_minutes_median"),
        "first_response_p90": weighted("first_response_minutes_p90"),
        "touches_24h_per_lead": sums["touches_24h"] / sums["leads_created"] if sums["leads_created"] else None,
    }


def assert_response(page: ReportPage, con, month: date, previous: date) -> None:
    df = _frame(con, "fct_response")
    months = df[df["period_grain"] == "month"]
    now, before = months[months["period_start"].dt.date == month], months[months["period_start"].dt.date == previous]
    table = page.tables[(None, "response")].rows
    assert {k for k in table if k != "total"} == {f"m:{m}" for m in now["manager_id"].unique()}
    for key, row in table.items():
        mine = now if key == "total" else now[now["manager_id"] == int(key[2:])]
        earlier = before if key == "total" else before[before["manager_id"] == int(key[2:])]
        expected = _response_figures(mine)
        for column in ("leads_created", "leads_responded", "sla_share", "first_response_median", "first_response_p90",
                       "touches_24h_per_lead", "leads_without_touch_14d"):
            _same(row.cells[column][0], expected[column], f"response {key} {column}")
        _same(row.cells["previous_sla_share"][0], _response_figures(earlier)["sla_share"], f"response {key} previous")
    last = months["period_start"].dt.date
    trend = [
        _response_figures(months[last == m])["sla_share"]
        for m in (pd.Timestamp(month) - pd.DateOffset(months=n) for n in range(TREND_LENGTH["month"] - 1, -1, -1))
        for m in [m.date()]
    ]
    share, *_ = page.lines[("response", "month")]
    assert share == [None if v is None else pytest.approx(v * 100) for v in trend]


def assert_hygiene(page: ReportPage, con) -> None:
    df = _frame(con, "fct_crm_hygiene")
    latest = df[df["snapshot_date"] == df["snapshot_date"].max()]
    table = page.tables[(None, "hygiene")].rows
    assert {k for k in table if k != "total"} == {f"m:{m}" for m in latest["manager_id"]}
    for key, row in table.items():
        mine = latest if key == "total" else latest[latest["manager_id"] == int(key[2:])]
        for column in HYGIENE:
            if column in df:
                _same(row.cells[column][0], mine[column].sum(), f"hygiene {key} {column}")


def assert_pipeline_daily(page: ReportPage, con, today: date) -> None:
    df = _frame(con, "fct_pipeline_daily")
    df["day"] = df["snapshot_date"].dt.date
    days = [today - timedelta(days=n) for n in range(TREND_LENGTH["day"] - 1, -1, -1)]
    window = df[df["day"].between(days[0], days[-1])]
    latest = window["day"].max()
    shown = [(where, rows) for (where, key), rows in page.tables.items() if key == "pipeline-daily"]
    assert shown, "no pipeline per day in the report"
    for pipeline, table in shown:
        mine = df[df["pipeline_id"] == int(pipeline)]
        for status, row in table.rows.items():
            stage = mine if status == "total" else mine[mine["status_id"] == int(status)]
            at = stage[stage["day"] == latest]
            _same(row.cells["open_deals"][0], at["open_deals"].sum(), f"{pipeline}/{status} open_deals")
            _same(row.cells["open_value"][0], at["open_value"].sum(), f"{pipeline}/{status} open_value")
            _same(row.cells["stuck_deals"][0], at["stuck_deals"].sum(), f"{pipeline}/{status} stuck_deals")
            week_ago = stage[stage["day"] == latest - timedelta(days=7)]["open_deals"].sum()
            _same(row.cells["open_deals_before"][0], week_ago, f"{pipeline}/{status} open_deals 7 days before")
        deals_lines = page.lines[("pipeline-daily", pipeline)][: len(table.rows) - 1]
        for status, line in zip([s for s in table.rows if s != "total"], deals_lines):
            per_day = mine[mine["status_id"] == int(status)].groupby("day")["open_deals"].sum()
            assert line == [float(per_day.get(d, 0)) for d in days], f"pipeline {pipeline} stage {status} per day"


def assert_breakdowns(page: ReportPage, con, month: date, language: str) -> None:
    df = _frame(con, "fct_sales_by_dimension")
    now = df[(df["period_grain"] == "month") & (df["period_start"].dt.date == month)]
    shown = {where: table for (where, key), table in page.tables.items() if key == "breakdown"}
    assert set(shown) == {d for d in df["dimension"].unique() if (now["dimension"] == d).any()}
    for dimension, table in shown.items():
        mine = now[now["dimension"] == dimension]
        for value, rows in mine.groupby("dimension_value"):
            row = table.rows[value]
            label = NOT_SPECIFIED[language] if value == "not specified" else value
            assert row.label == label
            won, lost = rows["deals_won"].sum(), rows["deals_lost"].sum()
            _same(row.cells["leads_created"][0], rows["leads_created"].sum(), f"{dimension}={value} leads")
            _same(row.cells["deals_won"][0], won, f"{dimension}={value} won")
            _same(row.cells["revenue_won"][0], rows["revenue_won"].sum(), f"{dimension}={value} revenue")
            _same(row.cells["deals_lost"][0], lost, f"{dimension}={value} lost")
            _same(row.cells["win_rate"][0], won / (won + lost) if won + lost else None, f"{dimension}={value} win rate")
        assert "total" not in table.rows  # values are not additive: no total row


def assert_morning_sections(page: ReportPage, con, today: date, month: date, previous: date, language: str) -> None:
    assert_hygiene(page, con)
    assert_response(page, con, month, previous)
    assert_pipeline_daily(page, con, today)
    assert_breakdowns(page, con, month, language)
