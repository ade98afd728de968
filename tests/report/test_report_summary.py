"""The morning checks in the Markdown summary and the `make demo` console: the marts' own sums, in plain lines."""

from __future__ import annotations

import re
import shutil

import duckdb
from report_marts import TODAY
from report_marts_morning import MORNING_TABLES

from pipelines.report import build_report
from pipelines.report.build import morning_lines


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def _expected(db) -> dict[str, int]:
    """This month's SLA counts and the latest hygiene snapshot's totals, summed straight from the marts."""
    with duckdb.connect(str(db), read_only=True) as con:
        (within, elapsed), (within_before, elapsed_before) = [con.execute(
            "select sum(responded_within_sla), sum(leads_sla_elapsed) from marts.fct_response "
            "where period_grain = 'month' and period_start = ?", [month]).fetchone()
            for month in (TODAY.replace(day=1), TODAY.replace(month=TODAY.month - 1, day=1))]
        hygiene = con.execute(
            "select sum(open_deals), sum(open_without_next_task), sum(open_with_overdue_task), sum(stuck_deals) "
            "from marts.fct_crm_hygiene where snapshot_date = (select max(snapshot_date) from marts.fct_crm_hygiene)"
        ).fetchone()
    return {"within": within, "elapsed": elapsed, "before": within_before / elapsed_before, "hygiene": [int(v) for v in hygiene]}


def test_markdown_summary_carries_the_morning_checks(marts_db, tmp_path):
    expected = _expected(marts_db)
    db = tmp_path / "published.duckdb"
    shutil.copy(marts_db, db)
    with duckdb.connect(str(db)) as con:  # as pipelines/publish.py leaves it
        con.execute("create table marts.meta_source as select 'acme' as subdomain, 15 as response_sla_minutes")
    summary = build_report(db, tmp_path, language="en", today=TODAY).summary
    response = next(line for line in summary.splitlines() if line.startswith("- Response speed, October 2026: "))
    share = f"{expected['within'] / expected['elapsed']:.0%}"
    assert (f": {share} answered in time (15 min), {expected['within']:,} of {expected['elapsed']:,} "
            f"(September 2026: {expected['before']:.0%}); ") in response
    assert re.search(r"median first response \d+(\.\d)? (min|h|d)$", response)
    hygiene = next(line for line in summary.splitlines() if line.startswith("- Open deals as of "))
    open_part, checks = hygiene.split("; ")
    assert _numbers(open_part)[-1] == expected["hygiene"][0]
    assert _numbers(checks) == expected["hygiene"][1:]
    assert "without a next task" in checks and "overdue task" in checks and "stuck" in checks
    assert summary.splitlines()[-1].startswith("[")  # the link stays last


def test_console_lines_are_the_summary_lines(marts_db, tmp_path):
    summary = build_report(marts_db, tmp_path, language="en", today=TODAY).summary
    lines = morning_lines(marts_db, today=TODAY)
    assert "answered in time (dbt var amocrm_response_sla_minutes)" in lines[0]  # a copy published before the SLA was
    assert len(lines) == 2 and all(f"- {line}".replace("\u00a0", " ") in summary.splitlines() for line in lines)


def test_without_the_morning_tables_each_line_says_no_data_yet(marts_db, tmp_path):
    db = tmp_path / "older.duckdb"
    shutil.copy(marts_db, db)
    with duckdb.connect(str(db)) as con:
        for table in MORNING_TABLES:
            con.execute(f"drop table marts.{table}")
    response, hygiene = morning_lines(db, today=TODAY)
    assert response.startswith("Response speed: No data yet") and "marts.fct_response" in response
    assert hygiene.startswith("Morning checklist: No data yet") and "marts.fct_crm_hygiene" in hygiene
