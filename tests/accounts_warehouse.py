"""A warehouse of several simulated accounts, built without the many-account loader.

Each account (its own profile: timezone, currency; overlapping ids) is extracted with today's
single-account path into a DuckDB of its own; then every `raw_amocrm` table is unioned by column name
into one warehouse. Raw rows already carry `account_id`; `_dlt_loads` / `_dlt_pipeline_state` keep
every account's rows. Once one dlt pipeline per account loads one warehouse, this goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.simulator import SimulatedAccount
from pipelines.simulator.profiles import derived_profile

# (timezone, currency) of the test accounts: far apart, so a bucket taken in another account's zone moves.
PROFILES = (("Europe/Moscow", "RUB"), ("Asia/Vladivostok", "USD"), ("Europe/Berlin", "EUR"))


def simulated_accounts(count: int, *, seed: int, leads: int, now: int) -> list[SimulatedAccount]:
    """`count` accounts with the PROFILES, seeds `seed`, `seed + 1`, ...; their ids overlap."""
    return [SimulatedAccount.generate(seed=seed + n, leads=leads, now=now,
                                      profile=derived_profile(n + 1, timezone=zone, currency=money))
            for n, (zone, money) in enumerate(PROFILES[:count])]


def raw_tables(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return [row[0] for row in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_amocrm' "
            "order by table_name").fetchall()]


def union_raw(parts: list[Path], target: Path) -> None:
    """Write into `target` every raw_amocrm table of the `parts` warehouses, unioned by column name."""
    tables: dict[str, list[int]] = {}
    for n, part in enumerate(parts):
        for table in raw_tables(part):
            tables.setdefault(table, []).append(n)
    with duckdb.connect(str(target)) as connection:
        for n, part in enumerate(parts):
            connection.execute(f"attach '{part}' as part{n} (read_only)")
        connection.execute("create schema if not exists raw_amocrm")
        for table, holders in tables.items():
            union = " union all by name ".join(f'select * from part{n}.raw_amocrm."{table}"' for n in holders)
            connection.execute(f'create or replace table raw_amocrm."{table}" as {union}')
        for n in range(len(parts)):
            connection.execute(f"detach part{n}")


def account_row(truth: Any) -> dict[str, Any]:
    return dict(truth.account)
