"""The report shows exactly what the marts hold, in the account's language, offline and small."""

from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal

import duckdb
import pytest
from report_expected import assert_cac, assert_losses, assert_report_matches_marts, expected_tiles
from report_marts import TODAY, build_large_marts, build_marts
from report_page import ReportPage

from pipelines.report import build_report
from pipelines.report.__main__ import main
from pipelines.report.data import MAX_MANAGERS, MAX_PIPELINES
from pipelines.report.morning.breakdowns import MAX_VALUES
from pipelines.report.tables import MANAGER_ROWS

NBSP = "\u00a0"
MAX_BYTES = 3 * 1024 * 1024


def test_every_view_shows_the_numbers_of_the_marts(ru_report, marts_db):
    page = assert_report_matches_marts(ru_report.path.read_text(encoding="utf-8"), marts_db, TODAY, "ru")
    assert {s for s, _ in page.tiles} == {"all", "p:1001", "p:1002", "m:101", "m:102", "m:103"}


def test_writes_the_latest_and_a_dated_copy_and_returns_the_headline(ru_report, marts_db):
    assert ru_report.path.name == "kpi_report.html"
    assert ru_report.dated_path.name == "kpi_report_2026-10-15.html"
    assert ru_report.path.read_bytes() == ru_report.dated_path.read_bytes()
    assert ru_report.month == date(2026, 10, 1)
    with duckdb.connect(str(marts_db), read_only=True) as con:
        con.execute("set TimeZone = 'Europe/Moscow'")
        expected = expected_tiles(con, "all", date(2026, 10, 1))
    shown = {tile.key: tile.value for tile in ru_report.headline}
    assert shown.keys() == expected.keys()
    for key, value in expected.items():
        assert (shown[key] is None) == (value is None)
        assert value is None or float(shown[key]) == pytest.approx(float(value))
    assert ru_report.headline[0].previous is not None


def test_markdown_summary_has_the_headline_table_and_a_link(ru_report):
    summary = ru_report.summary
    revenue = next(t for t in ru_report.headline if t.key == "revenue_won")
    assert "| KPI | Октябрь 2026 | Сентябрь 2026 |" in summary
    assert f"| Выручка | {revenue.value:,} ₽ |".replace(",", " ") in summary
    assert summary.count("\n| ") == 1 + len(ru_report.headline)
    assert f"]({ru_report.path.as_uri()})" in summary


def test_russian_numbers_money_and_dates(ru_report):
    html = ru_report.path.read_text(encoding="utf-8")
    page = ReportPage(html)
    revenue = Decimal(page.tiles[("all", "revenue_won")].attrs["data-value"])
    win_rate = float(page.tiles[("all", "win_rate")].attrs["data-value"])
    assert f"{int(revenue):,}".replace(",", NBSP) + f"{NBSP}₽" in page.tiles[("all", "revenue_won")].content
    assert f"{win_rate * 100:.1f}".replace(".", ",") + f"{NBSP}%" in page.tiles[("all", "win_rate")].content
    assert '<html lang="ru">' in html
    assert page.title == "KPI отдела продаж — Октябрь 2026"
    assert "01.11.2025" in html  # the funnel's first cohort, dd.mm.yyyy


def test_english_numbers_money_and_dates(marts_db, tmp_path):
    report = build_report(marts_db, tmp_path, language="en", today=TODAY)
    html = report.path.read_text(encoding="utf-8")
    page = ReportPage(html)
    revenue = Decimal(page.tiles[("all", "revenue_won")].attrs["data-value"])
    win_rate = float(page.tiles[("all", "win_rate")].attrs["data-value"])
    assert f"₽{int(revenue):,}" in page.tiles[("all", "revenue_won")].content
    assert f"{win_rate * 100:.1f}%" in page.tiles[("all", "win_rate")].content
    assert '<html lang="en">' in html and page.title == "Sales KPI — October 2026"
    assert "Nov 1, 2025" in html
    assert "| Revenue | ₽" in report.summary
    assert_report_matches_marts(html, marts_db, TODAY, "en")


def test_language_and_currency_come_from_the_account_when_the_marts_have_it(marts_db, tmp_path):
    db = tmp_path / "with_account.duckdb"
    shutil.copy(marts_db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_amocrm")
        con.execute("create table raw_amocrm.account as select 'en' as language, 'USD' as currency, "
                    "'Europe/Moscow' as timezone, 'Acme Inc' as name")
    report = build_report(db, tmp_path / "out", today=TODAY)
    page = ReportPage(report.path.read_text(encoding="utf-8"))
    assert report.language == "en"
    assert page.tiles[("all", "revenue_won")].content.startswith("Revenue $")
    assert build_report(db, tmp_path / "out", language="ru", today=TODAY).language == "ru"  # the argument wins


def test_an_account_without_data_renders_placeholders(tmp_path):
    db = build_marts(tmp_path / "empty.duckdb", empty=True)
    report = build_report(db, tmp_path / "out", today=TODAY)
    html = report.path.read_text(encoding="utf-8")
    page = ReportPage(html)
    for kpi in ("avg_deal_value", "win_rate", "sales_cycle_days", "cac", "nps"):
        tile = page.tiles[("all", kpi)]
        assert tile.attrs["data-value"] == ""
        assert " — н/д сент. 2026: —" in tile.content  # value, change, previous value
    assert page.tiles[("all", "revenue_won")].attrs["data-value"] == "0"
    assert "Нет данных за период" in html
    managers = page.tables[(None, "managers")].rows
    assert set(managers) == {"m:101", "m:102", "total"}  # active managers, even without numbers
    assert managers["total"].cells["win_rate"] == ("", "—")


def test_undefined_ratios_show_a_dash_next_to_defined_ones(ru_report):
    page = ReportPage(ru_report.path.read_text(encoding="utf-8"))
    managers = page.tables[(None, "managers")].rows
    assert managers["m:103"].cells["revenue_attainment"] == ("", "—")  # no target set for her
    assert managers["m:101"].cells["revenue_attainment"][0] != ""
    funnel = page.tables[("1001", "funnel")].rows
    assert funnel["142"].cells["conversion"] == ("", "—")  # won is the last stage: nothing to convert to
    assert funnel["11"].cells["conversion"][1].endswith("%")


def test_names_from_the_crm_are_escaped_everywhere(marts_db, tmp_path):
    db = tmp_path / "odd_names.duckdb"
    shutil.copy(marts_db, db)
    odd = '<b>"Рога & копыта"</b>'
    with duckdb.connect(str(db)) as con:
        con.execute("update marts.dim_managers set manager_name = ? where manager_id = 101", [odd])
        con.execute("update marts.dim_pipeline_stages set pipeline_name = ?, status_name = ? where status_id = 11", [odd, odd])
        con.execute("update marts.fct_lost_deals set loss_reason = ? where loss_reason = 'Дорого'", [odd])
    html = build_report(db, tmp_path / "out", today=TODAY).path.read_text(encoding="utf-8")
    assert "<b>" not in html
    assert html.count("&lt;b&gt;&#34;Рога &amp; копыта&#34;&lt;/b&gt;") + html.count(
        "&lt;b&gt;&quot;Рога &amp; копыта&quot;&lt;/b&gt;") > 5  # select, tables, chart labels, tooltips


def test_the_file_is_self_contained(ru_report):
    html = ru_report.path.read_text(encoding="utf-8")
    assert "http" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*//""", html)
    assert not re.search(r"<link\b|\bsrc\s*=|@import|url\(", html, re.IGNORECASE)
    assert html.count("<script>") == 1 and html.count("<style>") == 1


def test_a_large_account_stays_small_and_its_totals_stay_whole(tmp_path):
    db = build_large_marts(tmp_path / "large.duckdb", managers=120, pipelines=12)
    report = build_report(db, tmp_path / "out", today=TODAY)
    size = report.path.stat().st_size
    assert size < MAX_BYTES, f"{size} bytes"
    page = ReportPage(report.path.read_text(encoding="utf-8"))
    scopes = {s for s, _ in page.tiles}
    assert len(scopes) == 1 + MAX_PIPELINES + MAX_MANAGERS
    managers = page.tables[(None, "managers")].rows
    assert len(managers) == MANAGER_ROWS + 2 and "other" in managers
    with duckdb.connect(str(db), read_only=True) as con:
        revenue = con.execute("select sum(revenue_won) from marts.fct_sales_kpi "
                              "where period_grain = 'month' and period_start = '2026-10-01'").fetchone()[0]
    assert Decimal(managers["total"].cells["revenue_won"][0]) == revenue
    shown = sum(Decimal(r.cells["revenue_won"][0]) for k, r in managers.items() if k != "total")
    assert shown == revenue  # the listed managers plus "others" add up to the total
    with duckdb.connect(str(db), read_only=True) as con:  # long lists end with an "other" line that keeps totals
        assert_losses(page, con, "all", date(2026, 10, 1), "ru")
        assert_cac(page, con, date(2026, 10, 1))
    assert "other" in page.tables[("all", "losses-reason")].rows and "other" in page.tables[(None, "cac")].rows
    # the morning sections: every manager in the checklist, the busiest pipelines per day, 30 values per breakdown
    assert len(page.tables[(None, "hygiene")].rows) == 120 + 1
    assert len([key for key in page.tables if key[1] == "pipeline-daily"]) == MAX_PIPELINES
    assert {len(page.tables[(d, "breakdown")].rows) for d in ("tag", "channel", "город")} == {MAX_VALUES}


def test_cli_builds_the_report_and_prints_its_path(marts_db, tmp_path, capsys):
    assert main(["--serving-db", str(marts_db), "--out-dir", str(tmp_path), "--today", "2026-10-15", "--language", "en"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "kpi_report.html")]
    assert (tmp_path / "kpi_report_2026-10-15.html").exists()


def test_cli_explains_a_missing_serving_copy(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--serving-db", str(tmp_path / "missing.duckdb"), "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "run the pipeline" in capsys.readouterr().err
