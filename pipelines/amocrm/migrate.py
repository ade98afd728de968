"""A warehouse loaded before raw rows carried `account_id`: stamped with its account before the next load.

Every raw table is merged on `(account_id, ...)` (endpoints.EntitySpec.primary_key). A warehouse
loaded by an older version has no `account_id` column: left so, dlt would add the column empty
(NULL), no legacy row would ever match a re-read row's key, and every record read again would be
loaded a second time. So before any load (`prepare`, called by every entry point that loads or
matches rows: run.py, the Dagster extraction, the id reconciliation) each raw table without the
column gets it, filled with the account the data folder holds (origin.py: its marker, else its
`raw_amocrm.account` row). dlt then finds the column in storage and only merges. When nothing says
which account the folder holds, nothing is loaded and the person is told what to do: a guessed
account would mix two accounts' rows for good.
"""

from __future__ import annotations

import logging
from typing import Any

import dlt

from pipelines import paths
from pipelines.amocrm import deletions, origin
from pipelines.amocrm.endpoints import ACCOUNT_ID, COLUMNS, MERGED_RESOURCES, NESTED
from pipelines.amocrm.settings import SettingsError

log = logging.getLogger(__name__)

STAGING = "_staging"  # dlt's default name of a dataset's staging dataset: `<dataset>_staging`
# tables written by the post-load SQL, not by dlt (deletions.py, merges.py, id_reconciliation.py)
SQL_TABLES = (deletions.DISAPPEARANCES, deletions.MERGE_CHECKS, "reconciliations")


class LegacyAccountUnknown(SettingsError):
    """Legacy raw rows whose account nothing names (not retried: a person must say which account)."""


def raw_tables() -> set[str]:
    """Every table of the raw layer that carries `account_id`: dlt's (roots and nested) and the SQL ones."""
    nested = {f"{parent}__{child}" for parent, children in NESTED.items() for child in children}
    return set(COLUMNS) | nested | set(SQL_TABLES)


def unstamped(sql_client: Any, dataset: str) -> list[str]:
    """`schema.table` of the raw tables without an `account_id` column (loaded before it existed), in
    `dataset` and in dlt's staging dataset beside it (`<dataset>_staging`: the merge tables of the last
    load, still holding its rows; dlt alters them before it empties them)."""
    columns: dict[str, set[str]] = {}
    for schema, table, column in sql_client.execute_sql(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN (%s, %s)", dataset, f"{dataset}{STAGING}"):
        if table in raw_tables():
            columns.setdefault(f'{schema}."{table}"', set()).add(column)
    return sorted(name for name, present in columns.items() if ACCOUNT_ID not in present)


def stamp_legacy(sql_client: Any, account_id: int, tables: list[str]) -> dict[str, int]:
    """Add `account_id` to `tables` (`schema."table"`) and fill it with `account_id`; rows stamped per table."""
    stamped = {}
    for table in tables:
        sql_client.execute_sql(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {ACCOUNT_ID} BIGINT")
        rows = sql_client.execute_sql(
            f"UPDATE {table} SET {ACCOUNT_ID} = %s WHERE {ACCOUNT_ID} IS NULL RETURNING 1", int(account_id))
        stamped[table] = len(rows or [])
    return stamped


def add_root_ids(sql_client: Any, dataset: str) -> list[str]:
    """Child tables of reference lists loaded when those were `replace`d have no `_dlt_root_id`; now that
    they are merged (per account), dlt would add it NOT NULL and fail on the old rows. Add it nullable
    first: dlt then only merges, and run.py's prune removes the old rows (no root id) after the load."""
    children = [f"{parent}__{child}" for parent, nested in NESTED.items() if parent not in MERGED_RESOURCES
                for child in nested]
    columns: dict[str, set[str]] = {}
    for schema, table, column in sql_client.execute_sql(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN (%s, %s)", dataset, f"{dataset}{STAGING}"):
        if table in children:
            columns.setdefault(f'{schema}."{table}"', set()).add(column)
    altered = sorted(name for name, present in columns.items() if "_dlt_root_id" not in present)
    for name in altered:
        sql_client.execute_sql(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS _dlt_root_id VARCHAR")
    return altered


def prepare(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Stamp the raw tables of a legacy warehouse (see the module docstring); {} when none needs it."""
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as sql_client:
        if altered := add_root_ids(sql_client, dataset):
            log.warning("reference child tables given a _dlt_root_id column (now merged per account): %s",
                        ", ".join(altered))
        tables = unstamped(sql_client, dataset)
    if not tables:
        return {}
    held = origin.held_origin()  # opens the warehouse itself: not while dlt's client holds it
    if held is None:
        data_dir = paths.data_dir()
        names = ", ".join(t.split(".", 1)[1].strip('"') for t in tables if t.startswith(f"{dataset}."))
        raise LegacyAccountUnknown(
            f"The warehouse {paths.warehouse_path()} holds raw tables loaded by an older version, without "
            f"account_id ({names}), and nothing says which amoCRM account they came from (no "
            f"{data_dir / origin.MARKER}, no row in {dataset}.account). Nothing was loaded: stamping them with "
            f"a guessed account would mix two accounts' data.\n"
            f"  to keep the data: write {data_dir / origin.MARKER} as "
            '{"account_id": <id>, "subdomain": "<subdomain>", "base_url_host": null, "simulated": false} '
            "with the id of the account this folder was loaded from (amoCRM: GET /api/v4/account), then run again\n"
            f"  to start over: delete {paths.warehouse_path()} and {data_dir / '.dlt'}, then run again")
    with pipeline.sql_client() as sql_client:
        stamped = stamp_legacy(sql_client, held.account_id, tables)
    log.warning("raw tables loaded before account_id existed were stamped with %s: %s", held.label(),
                ", ".join(f"{table} {count:,} rows" for table, count in stamped.items()))
    return stamped
