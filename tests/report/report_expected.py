"""What the report must show, recomputed from the marts with SQL of its own, and the comparison.

Written apart from `pipelines.report.data` on purpose: one plain query per
number with a WHERE clause per view (no scope unnesting), and the sales cycle
straight from the leads, so a roll-up mistake in the report cannot hide here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from report_expected_morning import assert_morning_sections
from report_page import ReportPage

from pipelines.report.data import FUNNEL_MONTHS, STALE_AFTER_DAYS, TREND_LENGTH
from pipelines.report.tables import LOSS_ROWS, MANAGER_ROWS

NOT_SPECIFIED = {"ru": "Не указана", "en": "Not specified"}


def months_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _filter(scope: str, manager_only: bool = False) -> str:
    if scope == "all":
        return "true"
    kind, ident = scope.split(":")
    if kind == "p":
        return "true" if manager_only else f"pipeline_id = {int(ident)}"
    return f"manager_id = {int(ident)}"


def _close(actual: str, expected, what: str = "") -> None:
    """A `data-value` equals the expected number ("" stands for a missing value)."""
    if expected is None:
        assert actual == "", f"{what}: expected no value, the report has {actual!r}"
    else:
        assert actual != "", f"{what}: expected {expected}, the report has no value"
        assert float(actual) == pytest.approx(float(expected), rel=1e-9, abs=1e-9), what


def _ratio(numerator, denominator):
    return None if not denominator or numerator is None else Decimal(numerator) / Decimal(denominator)


def expected_tiles(con, scope: str, month: date) -> dict[str, object]:
    leads, won, revenue, lost = con.execute(
        f"""
        select coalesce(sum(leads_created), 0), coalesce(sum(deals_won), 0), coalesce(sum(revenue_won), 0),
               coalesce(sum(deals_lost), 0)
        from marts.fct_sales_kpi where period_grain = 'month' and period_start = ? and {_filter(scope)}
        """,
        [month],
    ).fetchone()
    cycle = con.execute(
        f"""
        select avg(sales_cycle_days) from marts.fct_leads
        where is_won and not is_deleted and sales_cycle_days is not null
          and date_trunc('month', cast(closed_at as date)) = ? and {_filter(scope)}
        """,
        [month],
    ).fetchone()[0]
    spend, customers = con.execute(
        "select sum(marketing_spend), sum(new_customers) from marts.fct_cac where month = ?", [month]
    ).fetchone()
    satisfaction_columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'fct_satisfaction'"
    ).fetchall()}
    if {"promoters", "detractors"} <= satisfaction_columns:
        nps_sql = "100.0 * (sum(promoters) - sum(detractors)) / nullif(sum(responses), 0)"
    else:
        nps_sql = "sum(nps * responses) / nullif(sum(responses) filter (where nps is not null), 0)"
    nps = con.execute(
        f"select {nps_sql} from marts.fct_satisfaction where period_grain = 'month' and period_start = ? "
        f"and {_filter(scope, manager_only=True)}",
        [month],
    ).fetchone()[0]
    return {
        "leads_created": leads,
        "deals_won": won,
        "revenue_won": revenue,
        "avg_deal_value": _ratio(revenue, won),
        "win_rate": _ratio(won, won + lost),
        "sales_cycle_days": cycle,
        "cac": _ratio(spend, customers),
        "nps": nps,
    }


def assert_tiles(page: ReportPage, con, scope: str, month: date, previous: date) -> None:
    now, before = expected_tiles(con, scope, month), expected_tiles(con, scope, previous)
    for kpi in now:
        tile = page.tiles[(scope, kpi)]
        _close(tile.attrs["data-value"], now[kpi], f"{scope} {kpi}")
        _close(tile.attrs["data-previous"], before[kpi], f"{scope} {kpi} (previous month)")


def assert_forecast(page: ReportPage, con, scope: str) -> None:
    for key in ("open_deals", "open_value", "weighted_value", "month_to_date_revenue", "month_run_rate"):
        value = con.execute(f"select coalesce(sum({key}), 0) from marts.fct_forecast where {_filter(scope)}").fetchone()[0]
        _close(page.forecast[(scope, key)].attrs["data-value"], value, f"{scope} forecast {key}")


def assert_month_trend(page: ReportPage, con, scope: str, month: date) -> None:
    months = [months_back(month, n) for n in range(TREND_LENGTH["month"] - 1, -1, -1)]
    revenue = dict(con.execute(
        f"select period_start, sum(revenue_won) from marts.fct_sales_kpi "
        f"where period_grain = 'month' and {_filter(scope)} group by all"
    ).fetchall())
    assert page.bars[(scope, "month")] == [pytest.approx(float(revenue.get(m, 0))) for m in months]
    for grain in ("day", "week"):
        assert len(page.bars[(scope, grain)]) == TREND_LENGTH[grain]


def assert_losses(page: ReportPage, con, scope: str, month: date, language: str) -> None:
    rows = con.execute(
        f"select coalesce(loss_reason, 'not specified'), sum(deals_lost), sum(value_lost) from marts.fct_lost_deals "
        f"where period_grain = 'month' and period_start = ? and {_filter(scope)} group by all",
        [month],
    ).fetchall()
    expected: dict[str, list] = {}
    for reason, deals, value in rows:
        label = NOT_SPECIFIED[language] if reason == "not specified" else reason
        entry = expected.setdefault(label, [0, 0])
        entry[0] += deals
        entry[1] += value
    table = page.tables[(scope, "losses-reason")].rows
    for key, row in table.items():
        if key not in ("other", "total"):
            assert [float(row.cells[c][0]) for c in ("deals_lost", "value_lost")] == expected.pop(row.label)
    total = table["total"].cells
    assert int(total["deals_lost"][0]) == sum(r[1] for r in rows)
    assert Decimal(total["value_lost"][0]) == sum((r[2] for r in rows), 0)
    assert ("other" in table) == bool(expected)  # whatever is not shown is in "other"
    assert len(table) <= LOSS_ROWS + 2
    if expected:
        assert int(table["other"].cells["deals_lost"][0]) == sum(d for d, _ in expected.values())


def assert_managers(page: ReportPage, con, month: date) -> None:
    table = page.tables[(None, "managers")].rows
    sales = {m: (rev, won, lost) for m, rev, won, lost in con.execute(
        "select manager_id, sum(revenue_won), sum(deals_won), sum(deals_lost) from marts.fct_sales_kpi "
        "where period_grain = 'month' and period_start = ? group by all", [month]).fetchall()}
    activity = {m: rest for m, *rest in con.execute(
        "select manager_id, sum(calls_outgoing) + sum(calls_incoming), sum(meetings_held), sum(messages_sent) "
        "from marts.fct_manager_activity where period_grain = 'month' and period_start = ? group by all", [month]).fetchall()}
    plans = {m: rest for m, *rest in con.execute(
        "select manager_id, revenue_won / target_revenue, deals_won / target_deals from marts.fct_plan_vs_fact "
        "where month = ? and (target_revenue is not null or target_deals is not null)", [month]).fetchall()}
    shown = [key for key in table if key.startswith("m:")]
    assert len(shown) <= MANAGER_ROWS
    for key in shown:
        manager = int(key[2:])
        cells = table[key].cells
        revenue, won, lost = sales.get(manager, (0, 0, 0))
        calls, meetings, messages = activity.get(manager, (0, 0, 0))
        revenue_attainment, deals_attainment = plans.get(manager, (None, None))
        _close(cells["revenue_won"][0], revenue, f"{key} revenue_won")
        _close(cells["deals_won"][0], won, f"{key} deals_won")
        _close(cells["win_rate"][0], _ratio(won, won + lost), f"{key} win_rate")
        _close(cells["calls"][0], calls, f"{key} calls")
        _close(cells["meetings"][0], meetings, f"{key} meetings")
        _close(cells["messages"][0], messages, f"{key} messages")
        _close(cells["revenue_attainment"][0], revenue_attainment, f"{key} revenue_attainment")
        _close(cells["deals_attainment"][0], deals_attainment, f"{key} deals_attainment")
    total = table["total"].cells
    _close(total["revenue_won"][0], sum((s[0] for s in sales.values()), 0), "managers total revenue_won")
    _close(total["deals_won"][0], sum(s[1] for s in sales.values()), "managers total deals_won")
    _close(total["calls"][0], sum(a[0] for a in activity.values()), "managers total calls")


def assert_cac(page: ReportPage, con, month: date) -> None:
    table = page.tables[(None, "cac")].rows
    rows = con.execute(
        "select channel, sum(marketing_spend), sum(new_customers), max(source_name) from marts.fct_cac "
        "where month = ? group by all", [month]
    ).fetchall()
    for channel, spend, customers, source_name in rows:
        if channel in table:
            # an amoCRM source is shown by its name, its id beside it
            assert table[channel].label == (f"{source_name} ({channel})" if source_name else channel)
            cells = table[channel].cells
            _close(cells["marketing_spend"][0], spend, f"channel {channel} marketing_spend")
            _close(cells["new_customers"][0], customers, f"channel {channel} new_customers")
            _close(cells["cac"][0], _ratio(spend, customers), f"channel {channel} cac")
    spend = sum((r[1] for r in rows if r[1] is not None), Decimal(0))
    customers = sum(r[2] for r in rows)
    listed = [row for key, row in table.items() if key != "total"]  # channels, then "other" for the tail
    assert sum(Decimal(r.cells["marketing_spend"][0] or 0) for r in listed) == spend
    assert sum(int(r.cells["new_customers"][0]) for r in listed) == customers
    _close(table["total"].cells["cac"][0], _ratio(spend, customers) if rows else None, "blended cac")


def assert_funnels(page: ReportPage, con, month: date, today: date) -> None:
    since = months_back(month, FUNNEL_MONTHS - 1)
    assert any(key == "funnel" for _, key in page.tables), "no funnel in the report"
    for (pipeline, key), table in page.tables.items():
        if key != "funnel":
            continue
        reached = dict(con.execute(
            "select status_id, sum(reached) from marts.fct_funnel where pipeline_id = ? and cohort_month >= ? group by all",
            [int(pipeline), since]).fetchall())
        open_now = dict(con.execute(
            "select status_id, count(*) from marts.fct_leads "
            "where pipeline_id = ? and not is_deleted and not is_won and not is_lost group by all",
            [int(pipeline)]).fetchall())
        stale = dict(con.execute(
            "select status_id, count(*) from marts.fct_leads where pipeline_id = ? and not is_deleted and not is_won "
            "and not is_lost and cast(created_at as date) < ?::date - ? group by all",
            [int(pipeline), today, STALE_AFTER_DAYS]).fetchall())
        for status, row in table.rows.items():
            for col, expected in (("reached", reached), ("open_now", open_now), ("open_stale", stale)):
                _close(row.cells[col][0], expected.get(int(status), 0), f"pipeline {pipeline} status {status} {col}")


def assert_report_matches_marts(html: str, db: Path, today: date, language: str, timezone: str = "Europe/Moscow") -> ReportPage:
    """Every view of the page (account, each pipeline, each manager) shows what the marts hold."""
    page = ReportPage(html)
    month = today.replace(day=1)
    previous = months_back(month, 1)
    scopes = {scope for scope, _ in page.tiles}
    assert "all" in scopes and any(s.startswith("p:") for s in scopes) and any(s.startswith("m:") for s in scopes)
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute(f"set TimeZone = '{timezone}'")
        for scope in sorted(scopes):
            assert_tiles(page, con, scope, month, previous)
            assert_forecast(page, con, scope)
            assert_month_trend(page, con, scope, month)
            assert_losses(page, con, scope, month, language)
        assert_managers(page, con, month)
        assert_cac(page, con, month)
        assert_funnels(page, con, month, today)
        assert_morning_sections(page, con, today, month, previous, language)
    return page
