"""What the morning sections share: telling a reader plainly why a section has nothing to show."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.report.rows import columns


@dataclass(frozen=True)
class Unavailable:
    """A section's table is not there (yet), lacks columns, or has no rows for what is shown."""

    table: str
    reason: str  # "missing", "columns", "empty"
    detail: str = ""  # the missing columns


def check_table(con: duckdb.DuckDBPyConnection, table: str, needed: set[str]) -> Unavailable | None:
    """None when `marts.<table>` has every needed column, else why it cannot be read."""
    present = columns(con, "marts", table)
    if not present:
        return Unavailable(table, "missing")
    if not needed <= present:
        return Unavailable(table, "columns", ", ".join(sorted(needed - present)))
    return None


def message(t: dict[str, str], why: Unavailable) -> str:
    """One sentence saying that there is no data yet, why, and what to do."""
    return f"{t['no_data_yet']}: " + t[f"no_data_{why.reason}"].format(table=f"marts.{why.table}", columns=why.detail)


def ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)
