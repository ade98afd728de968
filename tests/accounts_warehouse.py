"""A warehouse of several simulated accounts, built without the many-account loader.

Each account (its own profile: timezone, currency; overlapping ids) is extracted with today's
single-account path into a DuckDB of its own; then every `raw_amocrm` table is unioned by column name
into one warehouse. Raw rows already carry `account_id`; `_dlt_loads` / `_dlt_pipeline_state` keep
every account's rows. Once one dlt pipeline per account loads one warehouse, this goes.
`build_accounts_warehouse`: three accounts built so, once per session for the dbt and the report tests
(fixture `accounts_warehouse`, xdist group "dbt_accounts").
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class AccountsWarehouse:
    """Three accounts built together: `warehouse` (a conftest `Warehouse`, with `.before_third`: the
    tables `KEPT` as they were with two accounts), the `reference` of each, their `truths` by account
    id, the simulated `now` they were generated at and the `leads` asked of each. Read it, never change
    it: change a copy."""

    warehouse: Any
    reference: Any
    truths: dict[int, Any]
    now: int
    leads: int


# what an account added later must leave as it was for the others: the incremental models' rows and the
# ledger of the loads they read
KEPT = ("intermediate.int_lead_events", "intermediate.int_activities", "intermediate.int_lead_status_history",
        "intermediate.int_activity_attribution", "intermediate.int_processed_loads")


def build_accounts_warehouse(root: Path, *, seed: int, leads: int, now: int) -> AccountsWarehouse:
    """Three simulated accounts each extracted alone, unioned; `dbt run` with the first two, then `dbt
    build` with the third added (the session fixture `accounts_warehouse`: one build for every module)."""
    from kpi_reference import KpiReference, MultiReference
    from pipelines.simulator import Simulator
    from tests.conftest import Warehouse, example_inputs

    parts, truths, extracted = [], {}, {}
    for n, account in enumerate(simulated_accounts(3, seed=seed, leads=leads, now=now)):
        with Simulator(account, rate_limit=None) as sim:
            part = Warehouse(data_dir=root / f"part{n}", sim=sim)
            part.data_dir.mkdir()
            part.extract()
            account_id = int(part.truth.account["id"])
            truths[account_id], extracted[account_id] = part.truth, part.extracted_at
            parts.append(part.path)
    inputs = {}
    for account_id, truth in truths.items():
        spend, targets = example_inputs(truth, now)
        subdomain = truth.account["subdomain"]
        inputs[account_id] = ([{**row, "account": subdomain} for row in spend],
                              [{**row, "account": str(account_id)} for row in targets])
    # the first two accounts built, then the third added
    warehouse = Warehouse(data_dir=root / "all", sim=None)
    warehouse.data_dir.mkdir()
    first_two = list(truths)[:2]
    union_raw(parts[:2], warehouse.path)
    warehouse.spend = [row for a in first_two for row in inputs[a][0]]
    warehouse.targets = [row for a in first_two for row in inputs[a][1]]
    warehouse.load_inputs()
    warehouse.dbt("run")  # the models (the build below, with the third account, runs the tests: CPU)
    warehouse.before_third = {name: warehouse.query(f"select * from {name}") for name in KEPT}
    union_raw(parts, warehouse.path)
    warehouse.spend = [row for a in truths for row in inputs[a][0]]
    warehouse.targets = [row for a in truths for row in inputs[a][1]]
    warehouse.load_inputs()
    warehouse.build_result = warehouse.dbt("build")
    reference = MultiReference({
        account_id: KpiReference(truth, extracted_at=extracted[account_id], spend=inputs[account_id][0],
                                 targets=inputs[account_id][1])
        for account_id, truth in truths.items()})
    return AccountsWarehouse(warehouse=warehouse, reference=reference, truths=truths, now=now, leads=leads)
