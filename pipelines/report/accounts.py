"""One account at a time: a view layer over the serving copy where `marts.*` holds one account's rows only.

The report's loaders were written for one account and sum whatever `marts.*`
holds. With several accounts in the serving copy they would add up accounts
(and currencies) silently, so each account gets its own in-memory connection
that ATTACHes the serving copy read-only and exposes every published table
filtered to that `account_id`; the loaders then run unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.report.rows import columns, dict_rows

SOURCE = "serving"  # the attached serving copy's catalog name inside the view layer


@dataclass(frozen=True)
class AccountInfo:
    """One row of `marts.dim_accounts`: what the account selector and its header show."""

    account_id: int
    name: str | None = None
    subdomain: str | None = None
    timezone: str | None = None
    currency: str | None = None
    extracted_at: datetime | None = None

    @property
    def label(self) -> str:
        return self.name or self.subdomain or f"#{self.account_id}"


def list_accounts(con: duckdb.DuckDBPyConnection) -> list[AccountInfo]:
    """The accounts of the serving copy; empty for a copy published before `dim_accounts` (one account)."""
    have = columns(con, "marts", "dim_accounts")
    if "account_id" not in have:
        return []
    wanted = [c for c in ("name", "subdomain", "timezone", "currency", "extracted_at") if c in have]
    rows = dict_rows(con, f"select {', '.join(['account_id', *wanted])} from marts.dim_accounts order by account_id")
    ids = [r["account_id"] for r in rows]
    if len(set(ids)) != len(ids) or None in ids:
        raise ValueError(f"marts.dim_accounts must list each account once, but has account_id {ids}: "
                         "rebuild and republish the marts")
    return [AccountInfo(**r) for r in rows]


@contextmanager
def account_marts(serving_db: Path, account_id: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection whose `marts.<table>` are the serving copy's rows of `account_id` only.

    Tables without an `account_id` column are shared by every account and shown as they are;
    `marts.dim_account` (the single-account header row the report reads) is this account's
    `dim_accounts` row.
    """
    account_id = int(account_id)  # it goes into SQL text: an integer only
    con = duckdb.connect(":memory:")
    try:
        path = str(serving_db).replace("'", "''")
        con.execute(f"attach '{path}' as {SOURCE} (read_only)")
        con.execute("create schema marts")
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'marts'",
            [SOURCE],
        ).fetchall()]
        for table in tables:
            filtered = "account_id" in _source_columns(con, table)
            where = f" where account_id = {account_id}" if filtered else ""
            con.execute(f'create view marts."{table}" as select * from {SOURCE}.marts."{table}"{where}')
        if "dim_account" not in tables and "dim_accounts" in tables:
            con.execute("create view marts.dim_account as select * from marts.dim_accounts")
        yield con
    finally:
        con.close()


def _source_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_catalog = ? and table_schema = 'marts' "
        "and table_name = ?",
        [SOURCE, table],
    ).fetchall()
    return {r[0] for r in rows}
