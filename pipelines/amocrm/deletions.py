"""Post-load SQL: apply deletion and restore signals to leads, contacts and companies.

Deleted entities vanish from amoCRM's lists, so a warehouse row never learns
by itself that it was deleted. The signals are the trash views (table
`deletions`), the `*_deleted` / `*_restored` events, disappearance from a full id
reconciliation (table `disappearances`, id_reconciliation.py), and `entity_merged`: when
two leads (or contacts, companies) are merged, the record merged away leaves
amoCRM without passing through the trash, and the merge event naming it is its
only trace (amocrm-api.md §2.5, §4.3: empty values). The rule (design §3): an
entity is deleted when its latest deletion signal (trash, `*_deleted`,
`entity_merged`) is not older than its latest live signal (`updated_at` of the
live row, a `*_restored` event, amoCRM still returning by id a record a merge
event named: merges.py).

An entity deleted (or merged away) before the extractor ever saw it live is
known only from the trash view or the merge event: it gets a stub row
(`is_deleted`, `deleted_at`, other columns null; `_dlt_id` `trash-...` or
`merged-...`) so that it is kept and flagged, not lost, and what happened on
it (calls, messages, tasks) does not count. A later restore makes the stub
live; restored.py then reads the real row by id, which replaces the stub.

The whole state is recomputed from all signals every time, so applying it is
idempotent: a crash between the load and this step is repaired by the next run.
"""

from __future__ import annotations

from typing import Any

ENTITIES = {"lead": "leads", "contact": "contacts", "company": "companies"}


STUB_MARKS = ("trash-", "merged-")  # `_dlt_id` prefixes of stub rows
DISAPPEARANCES = "disappearances"  # ids a reconciliation found gone from amoCRM (id_reconciliation.py)
MERGE_CHECKS = "merge_checks"  # records a merge event named that amoCRM still returned by id (merges.py)
EXTRACTIONS = "extractions"  # one row per extraction run, naming its account (source.py)


def newest_load(dataset: str, present: set[str], account_id: int) -> str:
    """SQL for the account's newest load id: its latest `extractions` row (each account loads through its
    own pipeline, so the dataset's newest load may be another account's); a warehouse from before that
    table holds one account, whose newest load is the dataset's."""
    if EXTRACTIONS in present:
        return (f"coalesce((SELECT max(_dlt_load_id) FROM {dataset}.{EXTRACTIONS} WHERE account_id = {int(account_id)}), "
                f"(SELECT max(load_id) FROM {dataset}._dlt_loads))")
    return f"(SELECT max(load_id) FROM {dataset}._dlt_loads)"


def _insert_stubs(sql_client: Any, dataset: str, table: str, mark: str, signals: str, account_id: int,
                  load_id: str) -> None:
    """A stub row for each id of `signals` (id, deletion time) that the table does not hold for the account."""
    sql_client.execute_sql(f"""
        INSERT INTO {dataset}.{table} (account_id, id, is_deleted, deleted_at, _dlt_load_id, _dlt_id)
        SELECT {account_id}, s.id, true, max(s.ts), {load_id}, '{mark}' || s.id
        FROM ({signals}) AS s(id, ts)
        WHERE s.id NOT IN (SELECT id FROM {dataset}.{table} WHERE account_id = {account_id})
        GROUP BY s.id""")


def apply(sql_client: Any, dataset: str, account_id: int) -> dict[str, int]:
    """Set `is_deleted`/`deleted_at` of the rows of account `account_id` from its signals; returns rows
    changed per table. Every signal and row is matched by (account_id, id): ids are unique per account."""
    account_id = int(account_id)  # formatted into the SQL below
    present = {row[0] for row in sql_client.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", dataset)}
    mine = f"account_id = {account_id}"
    load_id = newest_load(dataset, present, account_id)
    changed = {}
    for entity, table in ENTITIES.items():
        if table not in present:
            continue
        trash = f"SELECT id, deleted_at FROM {dataset}.deletions WHERE {mine} AND entity_type = '{entity}'"
        merged = (f"SELECT entity_id, created_at FROM {dataset}.events "
                  f"WHERE {mine} AND type = 'entity_merged' AND entity_type = '{entity}'")
        deletion_sources = [trash] if "deletions" in present else []
        restore_sources = []
        if "events" in present:
            deletion_sources.append(f"SELECT entity_id, created_at FROM {dataset}.events "
                                    f"WHERE {mine} AND type = '{entity}_deleted'")
            deletion_sources.append(merged)
            restore_sources.append(f"SELECT entity_id, created_at FROM {dataset}.events "
                                   f"WHERE {mine} AND type = '{entity}_restored'")
        if DISAPPEARANCES in present:  # gone from amoCRM's full id list, with no other trace
            deletion_sources.append(f"SELECT id, missing_at FROM {dataset}.{DISAPPEARANCES} "
                                    f"WHERE {mine} AND entity_type = '{entity}'")
        if MERGE_CHECKS in present:  # seen live just after the merge event that named it
            restore_sources.append(f"SELECT id, merged_at + 1 FROM {dataset}.{MERGE_CHECKS} "
                                   f"WHERE {mine} AND entity_type = '{entity}' AND found")
        deleted = " UNION ALL ".join(deletion_sources) or "SELECT NULL::BIGINT, NULL::BIGINT WHERE false"
        restored = " UNION ALL ".join(restore_sources) or "SELECT NULL::BIGINT, NULL::BIGINT WHERE false"
        if "deletions" in present:
            _insert_stubs(sql_client, dataset, table, f"trash-{entity}-", trash, account_id, load_id)
        if "events" in present:
            _insert_stubs(sql_client, dataset, table, f"merged-{entity}-", merged, account_id, load_id)
        rows = sql_client.execute_sql(f"""
            WITH deleted AS (SELECT id, max(ts) AS ts FROM ({deleted}) AS d(id, ts) GROUP BY id),
                 restored AS (SELECT id, max(ts) AS ts FROM ({restored}) AS r(id, ts) GROUP BY id),
                 verdict AS (
                     SELECT t.id,
                            d.ts IS NOT NULL AND d.ts >= greatest(coalesce(t.updated_at, 0), coalesce(r.ts, 0)) AS is_deleted,
                            d.ts AS deleted_ts
                     FROM {dataset}.{table} AS t
                     LEFT JOIN deleted AS d ON d.id = t.id
                     LEFT JOIN restored AS r ON r.id = t.id
                     WHERE t.{mine})
            UPDATE {dataset}.{table} AS t
            SET is_deleted = v.is_deleted, deleted_at = CASE WHEN v.is_deleted THEN v.deleted_ts END
            FROM verdict AS v
            WHERE t.{mine} AND t.id = v.id
              AND (t.is_deleted IS DISTINCT FROM v.is_deleted
                   OR t.deleted_at IS DISTINCT FROM CASE WHEN v.is_deleted THEN v.deleted_ts END)
            RETURNING t.id""")
        changed[table] = len(rows or [])
    return changed
