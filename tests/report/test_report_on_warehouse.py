"""The report built from the real chain: simulator -> dlt -> dbt -> serving copy (the shared warehouse)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from report_expected import assert_report_matches_marts

from pipelines.publish import publish_marts
from pipelines.report import build_report
from pipelines.report.browser import HeadlessChromium, find_chromium

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]


@pytest.fixture(scope="module")
def built(kpi_warehouse, tmp_path_factory):
    """The serving copy published from the shared warehouse, the account's today, and its report."""
    out = tmp_path_factory.mktemp("warehouse_report")
    serving = publish_marts(kpi_warehouse.path, out / "serving" / "amocrm_kpi.duckdb").path
    timezone = kpi_warehouse.truth.account["timezone"]
    today = datetime.fromtimestamp(kpi_warehouse.sim.clock.now, ZoneInfo(timezone)).date()
    return serving, today, timezone, build_report(serving, out / "reports", today=today)


def test_every_view_shows_the_numbers_of_the_marts(built):
    serving, today, timezone, report = built
    assert_report_matches_marts(report.path.read_text(encoding="utf-8"), serving, today, "ru", timezone)
    # not vacuous: the two months shown are not both empty (the current one may be, on its first morning)
    assert any(tile.value or tile.previous for tile in report.headline)


def test_account_settings_are_read_from_the_raw_account_table(kpi_warehouse, built, tmp_path):
    """Pointed at the warehouse itself (marts and raw_amocrm.account), the account names the language."""
    _, today, _, _ = built
    report = build_report(kpi_warehouse.path, tmp_path, today=today)
    account = kpi_warehouse.truth.account
    assert report.language == account["language"] == "ru"
    assert account["name"] in report.path.read_text(encoding="utf-8")


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_renders_in_chromium_without_errors(built, tmp_path):
    _, _, _, report = built
    with HeadlessChromium() as browser:
        browser.open(report.path)
        charts = browser.evaluate("document.querySelectorAll('svg.chart').length")
        browser.screenshot(tmp_path / "report.png", full_page=True)
    assert browser.errors == [] and browser.requests == [report.path.as_uri()]
    assert charts > 10 and (tmp_path / "report.png").stat().st_size > 50_000
