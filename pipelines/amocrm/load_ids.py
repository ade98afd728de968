"""Never load a package whose load id the warehouse already holds.

dlt names a package by the wall-clock time it was made (`dlt.common.storages.load_package.create_load_id`),
unique within one process only. Accounts extract in parallel processes into one warehouse, and a clock
can be set back, so a new package may carry an id `_dlt_loads` (or `extractions`, or dbt's ledger
`intermediate.int_processed_loads`) already holds for an earlier load. Loaded anyway, its rows would look
read already: dbt's incremental models read each load id once, and `int_extraction` would give the
account another account's load. So, under the warehouse lock, just before `pipeline.load()`:
`refuse_known(pipeline)` checks every pending package; on a clash it drops the pipeline's local working
folder (package and state, so the next run restores the cursors from the warehouse and reads the same
changes again: nothing is skipped) and raises `DuplicateLoadId`, saying so.
"""

from __future__ import annotations

from typing import Any

import dlt

LEDGER = ("intermediate", "int_processed_loads")


class DuplicateLoadId(RuntimeError):
    """A pending package's load id is already in the warehouse; nothing of it was loaded."""


def pending_load_ids(pipeline: dlt.Pipeline) -> list[str]:
    return sorted({*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()})


def known_load_ids(client: Any, dataset: str, load_ids: list[str], own: tuple[str, str] | None = None) -> dict[str, str]:
    """{load id: where the warehouse holds it already} for those of `load_ids` it holds. `own` (account key,
    pipeline name): leave out ids that package's own earlier, interrupted load wrote (its `extractions` or
    `_dlt_pipeline_state` row is this account's), as when a package a killed run left is loaded again."""
    if not load_ids:
        return {}
    tables = {(schema, name) for schema, name in client.execute_sql(
        "select table_schema, table_name from information_schema.tables")}
    marks = ", ".join(["%s"] * len(load_ids))
    found: dict[str, str] = {}
    mine: set[str] = set()
    if (dataset, "_dlt_loads") in tables:
        for load_id, status, inserted_at in client.execute_sql(
                f"select load_id, status, inserted_at from {dataset}._dlt_loads where load_id in ({marks})", *load_ids):
            found[load_id] = f"a load of {inserted_at:%Y-%m-%d %H:%M:%S %Z} (status {status}) in {dataset}._dlt_loads"
    if (dataset, "extractions") in tables:
        for load_id, account_id, key in client.execute_sql(
                f"select distinct _dlt_load_id, account_id, account_key from {dataset}.extractions "
                f"where _dlt_load_id in ({marks})", *load_ids):
            found[load_id] = (found.get(load_id, f"a load in {dataset}.extractions")
                              + f", the extraction of account '{key}' (amoCRM account {account_id})")
            if own and key == own[0]:
                mine.add(load_id)
    if own and (dataset, "_dlt_pipeline_state") in tables:
        mine |= {row[0] for row in client.execute_sql(
            f"select _dlt_load_id from {dataset}._dlt_pipeline_state where pipeline_name = %s "
            f"and _dlt_load_id in ({marks})", own[1], *load_ids)}
    if LEDGER in tables:
        for (load_id,) in client.execute_sql(
                f"select distinct load_id from {'.'.join(LEDGER)} where load_id in ({marks})", *load_ids):
            found[load_id] = found.get(load_id, "a load") + ", already read by dbt (intermediate.int_processed_loads)"
    return {load_id: where for load_id, where in found.items() if load_id not in mine}


def refuse_known(pipeline: dlt.Pipeline, account: str, resumed: bool = False) -> None:
    """Raise `DuplicateLoadId` when a pending package of `pipeline` (account key `account`) carries a load
    id the warehouse holds, after dropping the pipeline's local package and state. Call it holding the
    warehouse lock, right before loading: no other load can come in between. `resumed`: the packages
    were left by an earlier run, so rows their own interrupted load wrote are no clash."""
    pending = pending_load_ids(pipeline)
    own = (account, pipeline.pipeline_name) if resumed else None
    with pipeline.sql_client() as client:
        known = known_load_ids(client, pipeline.dataset_name, pending, own) if client.has_dataset() else {}
    if not known:
        return
    pipeline.drop()  # local package and state; the next run restores the cursors from the warehouse
    clashes = "; ".join(f"{load_id} is {where}" for load_id, where in sorted(known.items()))
    raise DuplicateLoadId(
        f"Refused to load the new data of account '{account}': its load package got a load id the warehouse "
        f"already holds ({clashes}). Loaded, dbt would take its rows for ones it has read already and never "
        f"put them in the marts. Load ids are the time a package was made: two extractions made theirs at the "
        f"same instant, or this machine's clock was set back. Nothing of this run was loaded; its package "
        f"and the account's local dlt state were dropped, so the next run reads the same changes again. "
        f"Run it again (if this repeats, check the clock: `date -u`).")
