"""Reading the marts by column name: rows as dicts, and whether a table is published at all.

The marts gain columns over time (e.g. `account_id`, `currency`); reading rows
by name instead of by position keeps the report working when they do.
"""

from __future__ import annotations

from typing import Any

import duckdb


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """The table's column names; empty when the table does not exist."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """The query's rows, each a dict keyed by the (aliased) column names of the select list."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def exact_sum(expression: str) -> str:
    """SQL summing a DOUBLE expression in DECIMAL(38, 9), so the total is exact and does not depend on the order
    DuckDB adds the rows in (its threads, or other accounts' rows in the same table): a float sum would, and a
    published number would then print as 63.42 in one build and 63.419999999999995 in the next."""
    return f"sum(cast({expression} as decimal(38, 9)))"
