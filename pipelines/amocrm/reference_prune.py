"""Reference lists replaced within one account: rows the account's latest full read did not rewrite go.

Reference tables (users, pipelines, statuses, loss reasons, custom fields, ...) are read whole every
run. In a warehouse shared by several accounts they cannot be dlt `replace` tables (that would wipe
the other accounts' rows), so they are merged on `(account_id, id)`: every row read is rewritten with
the load's `_dlt_load_id`. What the account no longer has (a deleted status, a removed user) keeps an
older load id and is deleted here, for this account only, with the child rows left without their
parent (`custom_fields__enums`). A list that came back empty empties the account's table, as a
replace did: `dim_pipeline_stages` relies on deleted statuses disappearing.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from pipelines.amocrm.endpoints import ACCOUNT_ID, MERGED_RESOURCES, NESTED

log = logging.getLogger(__name__)


def prune(sql_client: Any, dataset: str, account_id: int, loaded: Iterable[str], tables: Iterable[str]) -> dict[str, int]:
    """Delete account `account_id`'s rows of the reference `tables` not written by the loads `loaded`
    (the run that read those lists whole); returns rows deleted per table. Nothing without a load id."""
    loads = sorted(set(loaded))
    tables = sorted(t for t in tables if t not in MERGED_RESOURCES)
    if not tables:
        return {}
    if not loads:  # no load id: every row would look stale. Keep them and say so.
        log.warning("reference tables %s not pruned for account %s: the load ids of the run are unknown",
                    ", ".join(tables), account_id)
        return {}
    columns: dict[str, set[str]] = {}
    for table, column in sql_client.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s", dataset):
        columns.setdefault(table, set()).add(column)
    placeholders = ", ".join(["%s"] * len(loads))
    deleted = {}
    for table in tables:
        if table not in columns:
            continue
        rows = sql_client.execute_sql(
            f'DELETE FROM {dataset}."{table}" WHERE {ACCOUNT_ID} = %s AND _dlt_load_id NOT IN ({placeholders}) '
            "RETURNING 1", int(account_id), *loads)
        deleted[table] = len(rows or [])
        for child in NESTED.get(table, {}):
            name = f"{table}__{child}"
            if name not in columns:
                continue
            # children of a table once `replace`d have no root id: all of them predate this load's rows
            orphan = ("_dlt_root_id IS NULL OR _dlt_root_id NOT IN "
                      f'(SELECT _dlt_id FROM {dataset}."{table}" WHERE {ACCOUNT_ID} = %s)'
                      if "_dlt_root_id" in columns[name] else "true")
            params = (int(account_id), int(account_id)) if "_dlt_root_id" in columns[name] else (int(account_id),)
            rows = sql_client.execute_sql(
                f'DELETE FROM {dataset}."{name}" WHERE {ACCOUNT_ID} = %s AND ({orphan}) RETURNING 1', *params)
            deleted[name] = len(rows or [])
    return deleted
