"""Post-load SQL: apply deletion and restore signals to leads, contacts and companies.

Deleted entities vanish from amoCRM's lists, so a warehouse row never learns
by itself that it was deleted. The signals are the trash views (table
`deletions`) and the `*_deleted` / `*_restored` events. The rule (design §3):
an entity is deleted when its latest deletion signal is not older than its
latest live signal (`updated_at` of the live row, a `*_restored` event).

An entity deleted before the extractor ever saw it live is known only from
the trash view (id, deletion time, author): it gets a stub row (`is_deleted`,
`deleted_at`, other columns null) so that it is kept and flagged, not lost; a
later restore brings the real row, which replaces the stub.

The whole state is recomputed from all signals every time, so applying it is
idempotent: a crash between the load and this step is repaired by the next run.
"""

from __future__ import annotations

from typing import Any

ENTITIES = {"lead": "leads", "contact": "contacts", "company": "companies"}


def apply(sql_client: Any, dataset: str) -> dict[str, int]:
    """Set `is_deleted`/`deleted_at` from the signals; returns rows changed per table."""
    present = {row[0] for row in sql_client.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", dataset)}
    changed = {}
    for entity, table in ENTITIES.items():
        if table not in present:
            continue
        deletion_sources = [f"SELECT id, deleted_at AS ts FROM {dataset}.deletions WHERE entity_type = '{entity}'"] if "deletions" in present else []
        restore_sources = []
        if "events" in present:
            deletion_sources.append(f"SELECT entity_id, created_at FROM {dataset}.events WHERE type = '{entity}_deleted'")
            restore_sources.append(f"SELECT entity_id, created_at FROM {dataset}.events WHERE type = '{entity}_restored'")
        deleted = " UNION ALL ".join(deletion_sources) or "SELECT NULL::BIGINT, NULL::BIGINT WHERE false"
        restored = " UNION ALL ".join(restore_sources) or "SELECT NULL::BIGINT, NULL::BIGINT WHERE false"
        if "deletions" in present:
            sql_client.execute_sql(f"""
                INSERT INTO {dataset}.{table} (id, is_deleted, deleted_at, _dlt_load_id, _dlt_id)
                SELECT d.id, true, d.deleted_at, (SELECT max(load_id) FROM {dataset}._dlt_loads),
                       'trash-{entity}-' || d.id
                FROM {dataset}.deletions AS d
                WHERE d.entity_type = '{entity}' AND d.id NOT IN (SELECT id FROM {dataset}.{table})""")
        rows = sql_client.execute_sql(f"""
            WITH deleted AS (SELECT id, max(ts) AS ts FROM ({deleted}) AS d(id, ts) GROUP BY id),
                 restored AS (SELECT id, max(ts) AS ts FROM ({restored}) AS r(id, ts) GROUP BY id),
                 verdict AS (
                     SELECT t.id,
                            d.ts IS NOT NULL AND d.ts >= greatest(coalesce(t.updated_at, 0), coalesce(r.ts, 0)) AS is_deleted,
                            d.ts AS deleted_ts
                     FROM {dataset}.{table} AS t
                     LEFT JOIN deleted AS d ON d.id = t.id
                     LEFT JOIN restored AS r ON r.id = t.id)
            UPDATE {dataset}.{table} AS t
            SET is_deleted = v.is_deleted, deleted_at = CASE WHEN v.is_deleted THEN v.deleted_ts END
            FROM verdict AS v
            WHERE t.id = v.id
              AND (t.is_deleted IS DISTINCT FROM v.is_deleted
                   OR t.deleted_at IS DISTINCT FROM CASE WHEN v.is_deleted THEN v.deleted_ts END)
            RETURNING t.id""")
        changed[table] = len(rows or [])
    return changed
