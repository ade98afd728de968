"""A serving copy of two accounts: two single-account marts (report_marts) stacked with `account_id` first.

Each account's own marts file is kept too, with its `dim_account` row, so a test can
build that account's report alone and compare.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
from report_marts import build_marts

# account_id, name, subdomain, timezone, currency, currency_symbol, seed, leads
ACCOUNTS = [
    (31001, "Альфа", "alpha", "Europe/Moscow", "RUB", "₽", 7, 320),
    (31002, "Beta Ltd", "beta", "Asia/Yekaterinburg", "USD", "$", 11, 180),
]
EXTRACTED_AT = datetime(2026, 10, 15, 4, 30, tzinfo=timezone.utc)


def build_accounts(folder: Path, accounts: list[tuple] = ACCOUNTS) -> tuple[Path, dict[int, Path]]:
    """(the serving copy of `accounts`, each account's single-account marts file by account_id)."""
    alone: dict[int, Path] = {}
    for account_id, name, _, tz, currency, symbol, seed, leads in accounts:
        path = build_marts(folder / f"alone_{account_id}.duckdb", seed=seed, leads=leads)
        with duckdb.connect(str(path)) as con:
            con.execute("create table marts.dim_account (name varchar, timezone varchar, currency varchar, "
                        "currency_symbol varchar)")
            con.execute("insert into marts.dim_account values (?, ?, ?, ?)", [name, tz, currency, symbol])
        alone[account_id] = path
    both = folder / "amocrm_kpi.duckdb"
    with duckdb.connect(str(both)) as con:
        con.execute("create schema marts")
        for account_id, path in alone.items():
            con.execute(f"attach '{path}' as a{account_id} (read_only)")
        first = next(iter(alone))
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'marts' "
            "and table_name != 'dim_account'", [f"a{first}"]).fetchall()]
        for table in tables:
            union = " union all ".join(f"select {a} as account_id, * from a{a}.marts.{table}" for a in alone)
            con.execute(f"create table marts.{table} as {union}")
        con.execute("create table marts.dim_accounts (account_id bigint, name varchar, subdomain varchar, "
                    "timezone varchar, currency varchar, currency_symbol varchar, extracted_at timestamptz)")
        for account_id, name, subdomain, tz, currency, symbol, *_ in accounts:
            con.execute("insert into marts.dim_accounts values (?, ?, ?, ?, ?, ?, ?)",
                        [account_id, name, subdomain, tz, currency, symbol, EXTRACTED_AT])
    return both, alone
