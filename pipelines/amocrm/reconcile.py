"""Read what amoCRM itself says, to reconcile the warehouse with the source (Dagster checks)."""

from __future__ import annotations

from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.connect import connect_from_config
from pipelines.amocrm.endpoints import REFERENCE_LISTS
from pipelines.amocrm.paging import Endpoint, ScanCounters, all_pages, keyset_scan


def changed_leads(lo: int, hi: int, client: AmoClient | None = None) -> dict[int, int]:
    """{lead id: updated_at} of live leads amoCRM shows with `lo <= updated_at <= hi`.

    Read with the extractor's own keyset scan; a lead changed again after `hi`
    is left out (it is the next run's business, not a gap).
    """
    client = client or connect_from_config()
    endpoint = Endpoint("/api/v4/leads", "leads", "updated_at",
                        lambda items, page: [(item["id"], item["updated_at"]) for item in items])
    found: dict[int, int] = {}
    for rows in keyset_scan(client, endpoint, lo, None, workers=2, counters=ScanCounters()):
        found.update((lead_id, updated) for lead_id, updated in rows if updated <= hi)
    return found


def reference_counts(client: AmoClient | None = None) -> dict[str, int]:
    """How many users, pipelines, pipeline statuses and loss reasons amoCRM has."""
    client = client or connect_from_config()
    counts = {}
    pipelines = []
    for table, (path, collection) in REFERENCE_LISTS.items():
        items = [item for _, page in all_pages(client, path, collection) for item in page]
        counts[table] = len(items)
        if table == "pipelines":
            pipelines = items
    counts["pipeline_statuses"] = sum(len((p.get("_embedded") or {}).get("statuses") or []) for p in pipelines)
    return counts
