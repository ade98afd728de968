"""A published figure must not depend on the order DuckDB reads the marts' rows in.

DuckDB adds a group's rows in whatever order its threads see them, and a serving copy of several accounts
interleaves other accounts' rows: a float sum of the same rows then differs in its last bits, and the page
printed 63.419999999999995 in one build and 63.42 in the next (CI on 5b5687f). Storing every mart in
opposite row orders makes that order deterministic and different, so the figures must still be equal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from report_marts import TODAY
from test_report_accounts import figures

from pipelines.report import build_report


def _reordered(source: Path, target: Path, order: str) -> Path:
    """A copy of `source` with every marts table's rows stored sorted by all its columns in `order`."""
    shutil.copy(source, target)
    with duckdb.connect(str(target)) as con:
        con.execute("set threads = 1")  # keep the stored order exactly as sorted
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()]
        for table in tables:
            con.execute(f"create table marts.sorted as select * from marts.{table} order by all {order}")
            con.execute(f"drop table marts.{table}")
            con.execute(f"alter table marts.sorted rename to {table}")
    return target


def test_figures_do_not_depend_on_the_order_of_the_marts_rows(marts_db, tmp_path):
    pages = []
    for order in ("asc", "desc"):
        copy = _reordered(marts_db, tmp_path / f"{order}.duckdb", order)
        report = build_report(copy, tmp_path / f"reports_{order}", today=TODAY)
        pages.append(figures(report.path.read_text(encoding="utf-8")))
    assert len(pages[0]) > 100
    differing = [(a, b) for a, b in zip(*pages) if a != b]
    assert not differing, differing[:5]
    assert pages[0] == pages[1]
