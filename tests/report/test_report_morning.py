"""The morning-check sections: plain "no data yet" when their tables are missing or empty, extra columns
(account_id, currency) do not break them, and money is never summed across currencies."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest
from report_expected import assert_report_matches_marts
from report_marts import TODAY, build_marts
from report_marts_morning import MORNING_TABLES
from report_page import ReportPage

from pipelines.report import build_report

SECTIONS = {"fct_crm_hygiene": "hygiene", "fct_response": "response", "fct_pipeline_daily": "pipeline-daily",
            "fct_sales_by_dimension": "breakdowns"}


def _copy(marts_db, tmp_path, name: str):
    db = tmp_path / name
    shutil.copy(marts_db, db)
    return db


def test_missing_tables_say_no_data_yet_and_what_to_do(marts_db, tmp_path):
    db = _copy(marts_db, tmp_path, "older.duckdb")
    with duckdb.connect(str(db)) as con:  # a serving copy published before the issue-15 marts existed
        for table in MORNING_TABLES:
            con.execute(f"drop table marts.{table}")
    page = ReportPage(build_report(db, tmp_path / "out", today=TODAY).path.read_text(encoding="utf-8"))
    for table, section in SECTIONS.items():
        text = page.no_data[section]
        assert text.startswith("Данных пока нет: в опубликованной копии нет таблицы") and f"marts.{table}" in text
        assert "make demo" in text  # what to do
    assert page.tiles[("all", "revenue_won")].attrs["data-value"] != ""  # the rest of the report is there


def test_empty_tables_and_missing_columns_are_named(tmp_path):
    db = build_marts(tmp_path / "empty.duckdb", empty=True)
    with duckdb.connect(str(db)) as con:
        con.execute("alter table marts.fct_response drop column first_response_minutes_median")
    html = build_report(db, tmp_path / "out", language="en", today=TODAY).path.read_text(encoding="utf-8")
    page = ReportPage(html)
    assert page.no_data["response"] == ("No data yet: table marts.fct_response lacks columns "
                                        "first_response_minutes_median: an older version built it. Rebuild it: run the daily job")
    for table in ("fct_crm_hygiene", "fct_pipeline_daily", "fct_sales_by_dimension"):
        assert page.no_data[SECTIONS[table]] == f"No data yet: table marts.{table} has no rows for this period yet"


def test_extra_columns_change_nothing(marts_db, tmp_path):
    """The marts gain account_id and currency (many accounts): the sections read columns by name."""
    db = _copy(marts_db, tmp_path, "accounts.duckdb")
    with duckdb.connect(str(db)) as con:
        for table in MORNING_TABLES:  # first in the column list, where a positional read would trip
            con.execute(f"create table marts.x as select 31000001::bigint as account_id, 'RUB' as currency, * "
                        f"from marts.{table}")
            con.execute(f"drop table marts.{table}; alter table marts.x rename to {table}")
    report = build_report(db, tmp_path / "out", today=TODAY)
    assert_report_matches_marts(report.path.read_text(encoding="utf-8"), db, TODAY, "ru")


def test_breakdowns_never_add_money_across_currencies(marts_db, tmp_path):
    db = _copy(marts_db, tmp_path, "currencies.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("create table marts.x as select 'RUB' as currency, * from marts.fct_sales_by_dimension "
                    "union all select 'USD', * replace (revenue_won / 100 as revenue_won) "
                    "from marts.fct_sales_by_dimension where dimension = 'tag'")
        con.execute("drop table marts.fct_sales_by_dimension; alter table marts.x rename to fct_sales_by_dimension")
        rub, usd = con.execute(
            "select sum(revenue_won) filter (where currency = 'RUB'), sum(revenue_won) filter (where currency = 'USD') "
            "from marts.fct_sales_by_dimension where period_grain = 'month' and period_start = '2026-10-01' "
            "and dimension = 'tag' and dimension_value = 'VIP'").fetchone()
    page = ReportPage(build_report(db, tmp_path / "out", today=TODAY).path.read_text(encoding="utf-8"))
    tags = page.tables[("tag", "breakdown")].rows
    assert float(tags["VIP|RUB"].cells["revenue_won"][0]) == pytest.approx(float(rub))
    assert float(tags["VIP|USD"].cells["revenue_won"][0]) == pytest.approx(float(usd))
    assert tags["VIP|USD"].cells["revenue_won"][1].endswith(" USD") and "₽" not in tags["VIP|USD"].cells["revenue_won"][1]
    assert "VIP" not in tags  # no row that adds the two


def test_hygiene_shows_the_latest_snapshot_only(marts_db, tmp_path):
    """Two snapshot days in the table: the page shows the newer, and says as of when."""
    html = build_report(marts_db, tmp_path, today=TODAY).path.read_text(encoding="utf-8")
    page = ReportPage(html)
    with duckdb.connect(str(marts_db), read_only=True) as con:
        days = con.execute("select count(distinct snapshot_date) from marts.fct_crm_hygiene").fetchone()[0]
        latest = con.execute("select sum(open_deals) from marts.fct_crm_hygiene "
                             "where snapshot_date = (select max(snapshot_date) from marts.fct_crm_hygiene)").fetchone()[0]
    assert days == 2
    assert int(page.tables[(None, "hygiene")].rows["total"].cells["open_deals"][0]) == latest
    assert "на момент выгрузки 15.10.2026 06:00" in html


def test_an_old_snapshot_is_called_out(marts_db, tmp_path):
    """The daily job stopped: the checklist shows the last snapshot and says how old it is."""
    html = build_report(marts_db, tmp_path, today=date(2026, 10, 20)).path.read_text(encoding="utf-8")
    assert "Снимок устарел на 5 дн." in html
    fresh = build_report(marts_db, tmp_path, today=TODAY).path.read_text(encoding="utf-8")
    assert "data-stale" not in fresh
