"""Merge events checked against amoCRM by id, once each (table `merge_checks`).

deletions.py reads an `entity_merged` event as "the record it names was merged
away" (amocrm-api.md §2.5 and §4.3 give the event no values, so the entity it
names is the only thing it can tell). That reading is an inference: were a live
account to name the surviving record instead, the survivor would be flagged
deleted and drop out of every KPI without a word. So every record flagged
deleted by a merge event is asked for once by id (restored.py, after the
load): amoCRM returning it means it lives on; the answer is kept here
(`found`), a found record counts as seen live just after the merge (a live
signal for deletions.py), it is loaded again, and the run warns. A record
amoCRM does not return confirms the merge and is not asked for again.
"""

from __future__ import annotations

from typing import Any

from pipelines.amocrm import deletions

TABLE = deletions.MERGE_CHECKS


def ensure_table(sql_client: Any, dataset: str) -> None:
    sql_client.execute_sql(f"CREATE TABLE IF NOT EXISTS {dataset}.{TABLE} "
                           "(account_id BIGINT NOT NULL, entity_type VARCHAR NOT NULL, id BIGINT NOT NULL, merged_at BIGINT NOT NULL, "
                           "found BOOLEAN NOT NULL, checked_at TIMESTAMP WITH TIME ZONE DEFAULT now())")


def unchecked(sql_client: Any, dataset: str, present: set[str], account_id: int) -> dict[str, list[tuple[int, int]]]:
    """{raw table: [(id, merged_at)]} of the account's records deleted by their latest merge event and not
    yet asked for."""
    if "events" not in present:
        return {}
    account_id = int(account_id)
    out = {}
    for entity, table in deletions.ENTITIES.items():
        if table not in present:
            continue
        not_checked = (f" AND NOT EXISTS (SELECT 1 FROM {dataset}.{TABLE} AS c WHERE c.account_id = {account_id} "
                       f"AND c.entity_type = '{entity}' AND c.id = t.id AND c.merged_at = m.merged_at)") if TABLE in present else ""
        rows = sql_client.execute_sql(f"""
            WITH merged AS (
                SELECT entity_id AS id, max(created_at) AS merged_at
                FROM {dataset}.events
                WHERE account_id = {account_id} AND type = 'entity_merged' AND entity_type = '{entity}'
                GROUP BY entity_id)
            SELECT t.id, m.merged_at
            FROM {dataset}.{table} AS t
            JOIN merged AS m ON m.id = t.id
            WHERE t.account_id = {account_id} AND t.is_deleted AND t.deleted_at = m.merged_at{not_checked}
            ORDER BY t.id""")
        if rows:
            out[table] = [(int(r[0]), int(r[1])) for r in rows]
    return out


def record(sql_client: Any, dataset: str, table: str, checked: list[tuple[int, int]], found: set[int],
           account_id: int) -> None:
    entity = {t: e for e, t in deletions.ENTITIES.items()}[table]
    ensure_table(sql_client, dataset)
    values = ", ".join(f"({int(account_id)}, '{entity}', {record_id}, {merged_at}, {str(record_id in found).lower()})"
                       for record_id, merged_at in checked)
    if values:
        sql_client.execute_sql(f"INSERT INTO {dataset}.{TABLE} (account_id, entity_type, id, merged_at, found) VALUES {values}")
