"""The report in a real browser (Debian's headless Chromium): charts render, filters work, no errors."""

from __future__ import annotations

import struct

import pytest
from report_page import ReportPage

from pipelines.report.browser import HeadlessChromium, find_chromium
from pipelines.report.data import TREND_LENGTH

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
)

VISIBLE_CHARTS = """Array.from(document.querySelectorAll('svg.chart'))
  .filter(svg => { const r = svg.getBoundingClientRect(); return r.width > 100 && r.height > 50; }).length"""
VISIBLE_BARS = """(grain) => Array.from(document.querySelectorAll('[data-grain="' + grain + '"] rect.bar'))
  .filter(r => r.getBoundingClientRect().width > 0).length"""


def choose(browser: HeadlessChromium, scope: str) -> None:
    browser.evaluate(
        f"(() => {{ const s = document.getElementById('scope'); s.value = {scope!r}; s.dispatchEvent(new Event('change')); }})()"
    )


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_report_renders_offline_with_its_charts_and_filters(ru_report, tmp_path):
    with HeadlessChromium() as browser:
        browser.open(ru_report.path)
        assert browser.evaluate("document.title") == "KPI отдела продаж — Октябрь 2026"
        # whole account, by month: 2 trend charts, 2 loss charts, 2 response charts, 2 x 2 open-pipeline charts,
        # 2 funnels, CAC
        assert browser.evaluate(VISIBLE_CHARTS) == 13
        assert browser.evaluate(f"({VISIBLE_BARS})('month')") == TREND_LENGTH["month"]
        assert browser.evaluate("document.getElementById('controls').hidden") is False

        browser.evaluate("document.querySelector('[data-grain-choice=\"day\"]').click()")
        assert browser.evaluate(f"({VISIBLE_BARS})('day')") == TREND_LENGTH["day"]
        assert browser.evaluate(f"({VISIBLE_BARS})('month')") == 0

        choose(browser, "p:1002")  # one pipeline: its own tiles, and only its open pipeline per day and funnel
        shown = "Array.from(document.querySelectorAll('[data-scope],[data-pipeline]')).filter(e => e.offsetParent).map(e => e.dataset.scope || e.dataset.pipeline)"
        assert browser.evaluate(shown) == ["p:1002", "1002", "1002"]

        choose(browser, "m:102")  # one manager: the manager's rows are highlighted (checklist, response, managers)
        assert browser.evaluate("Array.from(document.querySelectorAll('tr.selected')).map(r => r.dataset.manager)") == ["102"] * 3
        assert browser.evaluate(f"({VISIBLE_BARS})('day')") == TREND_LENGTH["day"]  # the chosen step is kept

        choose(browser, "all")
        screenshot = browser.screenshot(tmp_path / "report.png", full_page=True)
    assert browser.errors == []
    assert browser.requests == [ru_report.path.as_uri()]  # nothing but the file itself
    width, height = png_size(screenshot)
    assert width == 1280 and height > 2000


VISIBLE_BREAKDOWN = """Array.from(document.querySelectorAll('[data-dimension]')).filter(e => e.offsetParent)
  .map(e => [e.dataset.dimension, Array.from(e.querySelectorAll('tbody tr')).map(r => r.dataset.row)])"""


def choose_breakdown(browser: HeadlessChromium, dimension: str) -> None:
    browser.evaluate(
        "(() => { const s = document.getElementById('breakdown'); "
        f"s.value = {dimension!r}; s.dispatchEvent(new Event('change')); }})()"
    )


def test_breakdown_selector_switches_the_table(ru_report):
    page = ReportPage(ru_report.path.read_text(encoding="utf-8"))
    tables = {where: list(t.rows) for (where, key), t in page.tables.items() if key == "breakdown"}
    assert set(tables) == {"tag", "channel", "city"}
    with HeadlessChromium() as browser:
        browser.open(ru_report.path)
        options = browser.evaluate("Array.from(document.getElementById('breakdown').options).map(o => o.value)")
        assert options == ["tag", "channel", "city"]  # built-in dimensions first, then the configured fields
        assert browser.evaluate(VISIBLE_BREAKDOWN) == [["tag", tables["tag"]]]
        for dimension in ("city", "channel", "tag"):
            choose_breakdown(browser, dimension)
            assert browser.evaluate(VISIBLE_BREAKDOWN) == [[dimension, tables[dimension]]]
        choose(browser, "m:101")  # the page's own filter leaves the chosen dimension alone
        assert browser.evaluate(VISIBLE_BREAKDOWN) == [["tag", tables["tag"]]]
    assert browser.errors == []


def test_the_check_sees_console_errors_exceptions_and_network_use(tmp_path):
    """The assertions above can fail: a broken page is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><title>x</title><img src='http://127.0.0.1:9/logo.png'>"
        "<script>console.error('bad data'); undefinedFunction();</script>",
        encoding="utf-8",
    )
    with HeadlessChromium() as browser:
        browser.open(page)
    assert any("bad data" in e for e in browser.errors)
    assert any("undefinedFunction" in e for e in browser.errors)
    assert "http://127.0.0.1:9/logo.png" in browser.requests


def test_cli_saves_a_screenshot(marts_db, tmp_path):
    from pipelines.report.__main__ import SCREENSHOT_SIZE, main

    png = tmp_path / "shot.png"
    assert main(["--serving-db", str(marts_db), "--out-dir", str(tmp_path), "--today", "2026-10-15",
                 "--screenshot", str(png)]) == 0
    assert png_size(png) == SCREENSHOT_SIZE


SHOWN_ACCOUNT = """(() => {
  const shown = Array.from(document.querySelectorAll('[data-account],[data-account-meta]')).filter(e => e.offsetParent);
  const frame = shown.find(e => e.dataset.account).querySelector('iframe');
  const tile = frame.contentDocument.querySelector('[data-scope="all"] [data-kpi="revenue_won"]');
  return {sections: shown.map(e => e.dataset.account || 'meta:' + e.dataset.accountMeta),
          meta: shown.find(e => e.dataset.accountMeta).textContent, revenue: tile.dataset.value,
          frameHeight: frame.getBoundingClientRect().height};
})()"""


def test_account_selector_switches_header_and_figures(two_accounts):
    report, singles = two_accounts
    revenue = {a: str(next(t.value for t in s.headline if t.key == "revenue_won")) for a, s in singles.items()}
    with HeadlessChromium() as browser:
        browser.open(report.path)
        assert browser.evaluate("Array.from(document.getElementById('account').options).map(o => o.text)") == [
            "Альфа", "Beta Ltd"]
        first = browser.evaluate(SHOWN_ACCOUNT)
        assert first["sections"] == ["meta:31001", "31001"] and "RUB" in first["meta"]
        assert first["revenue"] == revenue[31001]
        assert first["frameHeight"] > 2000  # the account's whole page, not a box with its own scroll bar
        browser.evaluate("(() => { const s = document.getElementById('account'); s.value = '31002'; "
                         "s.dispatchEvent(new Event('change')); })()")
        second = browser.evaluate(SHOWN_ACCOUNT)
        assert second["sections"] == ["meta:31002", "31002"]
        assert "USD" in second["meta"] and "Asia/Yekaterinburg" in second["meta"]
        assert second["revenue"] == revenue[31002] != first["revenue"]
    assert browser.errors == []
    assert browser.requests == [report.path.as_uri()]
