"""The report of two real accounts: simulator -> dlt -> union -> dbt -> serving copy; each account its own marts."""

from __future__ import annotations

import html
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest
from report_expected import assert_report_matches_marts

from accounts_warehouse import simulated_accounts, union_raw
from pipelines.publish import publish_marts
from pipelines.report import build_report

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report_accounts")]  # its own warehouse, not the shared one
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


def test_each_account_of_a_real_warehouse_shows_its_own_marts(tmp_path):
    from pipelines.simulator import Simulator
    from tests.conftest import Warehouse, example_inputs

    now = int(time.time())
    parts, truths = [], {}
    for n, account in enumerate(simulated_accounts(2, seed=5, leads=120, now=now)):
        with Simulator(account, rate_limit=None) as sim:
            part = Warehouse(data_dir=tmp_path / f"part{n}", sim=sim)
            part.data_dir.mkdir()
            part.extract()
            truths[int(part.truth.account["id"])] = part.truth
            parts.append(part.path)
    warehouse = Warehouse(data_dir=tmp_path / "all", sim=None)
    warehouse.data_dir.mkdir()
    union_raw(parts, warehouse.path)
    inputs = [example_inputs(truth, now) for truth in truths.values()]
    warehouse.spend = [{**row, "account": t.account["subdomain"]} for t, (spend, _) in zip(truths.values(), inputs)
                       for row in spend]
    warehouse.targets = [{**row, "account": str(a)} for a, (_, targets) in zip(truths, inputs) for row in targets]
    warehouse.load_inputs()
    warehouse.dbt("build")
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
