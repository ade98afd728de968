"""The report of real accounts (the session's `accounts_warehouse`: simulator -> dlt -> union -> dbt) -> serving
copy -> report: each account its own marts."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest
from report_expected import assert_report_matches_marts

from pipelines.publish import publish_marts
from pipelines.report import build_report

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt_accounts")]  # accounts_warehouse, built once
FRAME = re.compile(r'data-account="(\d+)">.*?srcdoc="([^"]*)"', re.S)


def _account_only(serving, account_id: int, target) -> None:
    """A copy of the serving copy with one account's rows: what that account's report must show."""
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{serving}' as s (read_only)")
        con.execute("create schema marts")
        for (table,) in con.execute("select table_name from information_schema.tables "
                                    "where table_catalog = 's' and table_schema = 'marts'").fetchall():
            con.execute(f"create table marts.{table} as select * from s.marts.{table} where account_id = ?",
                        [account_id])


def test_each_account_of_a_real_warehouse_shows_its_own_marts(accounts_warehouse, tmp_path):
    warehouse, truths, now = accounts_warehouse.warehouse, accounts_warehouse.truths, accounts_warehouse.now
    serving = publish_marts(warehouse.path, tmp_path / "serving" / "amocrm_kpi.duckdb").path
    report = build_report(serving, tmp_path / "reports")
    pages = {int(a): html.unescape(doc) for a, doc in FRAME.findall(report.path.read_text(encoding="utf-8"))}
    assert sorted(pages) == sorted(truths)
    for account_id, truth in truths.items():
        timezone = truth.account["timezone"]
        today = datetime.fromtimestamp(now, ZoneInfo(timezone)).date()
        own = tmp_path / f"own_{account_id}.duckdb"
        _account_only(serving, account_id, own)
        assert_report_matches_marts(pages[account_id], own, today, "ru", timezone)
        assert truth.account["name"] in pages[account_id]
