"""Restored records known only as stubs: fetched by id, so they are whole (issue 13, item 6).

A lead, contact or company deleted (or merged away) before the extractor ever
saw it live is kept as a stub (id and deletion data only; deletions.py). When it
is restored, its `*_restored` event makes the stub live. If amoCRM's restore
does not change `updated_at`, the incremental scan never lists the record again,
and the live stub (no `created_at`, no name, no status) would reach the marts.

So after every load (and after deletions are applied), every live stub is read
again by id (`filter[id][]=`, `BATCH` ids a request, paged until the list ends,
through the run's client: its rate limit, retries and errors), loaded over the
stub, and deletions are applied again. An id amoCRM does not return (deleted
again, out of the token's rights, gone) is reported, never dropped silently: a
warning in the log, `missing` in the run summary and the Dagster metadata; the
stub stays, and the next run tries it again. When the account ignores filters
(a row comes back that was not asked for), each id is read with
`GET /api/v4/{entity}/{id}` instead.

The same step asks once by id for each record a merge event flagged deleted
(merges.py): one amoCRM still returns is reloaded, kept live and reported.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import dlt

from pipelines.amocrm import accounts, deletions, endpoints, load_ids, merges
from pipelines.amocrm.client import AmoClient, AmoHTTPError, AmoPayloadError
from pipelines.amocrm.paging import read_page

log = logging.getLogger(__name__)

BATCH = 50  # ids per request: amoCRM's smallest page size, so one page is normally the whole answer


@dataclass
class Restored:
    """What completing the restored stubs did: rows loaded and ids amoCRM did not return, per raw table."""

    fetched: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[int]] = field(default_factory=dict)
    merged_live: dict[str, list[int]] = field(default_factory=dict)  # named by a merge event, yet amoCRM has them
    by_single_get: bool = False  # filters ignored: read one id a request

    def warning(self) -> str | None:
        def listed(ids_by_table: dict[str, list[int]]) -> str:
            return "; ".join(f"{table}: {', '.join(map(str, ids))}" for table, ids in ids_by_table.items() if ids)

        warnings = []
        if any(self.missing.values()):
            warnings.append(f"restored records amoCRM did not return when asked by id, kept as stubs without their "
                            f"data (deleted again, or out of the token's rights?): {listed(self.missing)}; "
                            "the next run asks again")
        if any(self.merged_live.values()):
            warnings.append(f"records an entity_merged event names, which amoCRM still returns by id, are kept live "
                            f"(the event named the surviving record?): {listed(self.merged_live)}")
        return "; ".join(warnings) or None


def live_stubs(sql_client: Any, dataset: str, account_id: int) -> dict[str, list[int]]:
    """Ids of the account's stub rows that deletions.apply found live (restored), per raw table."""
    present = {row[0] for row in sql_client.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", dataset)}
    stubs = {}
    for table in deletions.ENTITIES.values():
        if table in present:
            stub = " OR ".join(f"_dlt_id LIKE '{mark}%'" for mark in deletions.STUB_MARKS)
            rows = sql_client.execute_sql(
                f"SELECT id FROM {dataset}.{table} WHERE account_id = {int(account_id)} AND ({stub}) "
                "AND is_deleted IS DISTINCT FROM true ORDER BY id")
            if rows:
                stubs[table] = [int(row[0]) for row in rows]
    return stubs


def fetch(client: AmoClient, table: str, ids: list[int], filters: bool = True) -> tuple[list[dict], list[int], bool]:
    """(items amoCRM returns for `ids`, the ids it did not return, whether it had to read one id a request).
    Read from the raw table's own list, with the `with` its incremental scan asks for (endpoints.py)."""
    spec = endpoints.entity(table)
    (path, _), params = spec.lists[0], spec.params
    found: dict[int, dict] = {}
    single = not filters
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        if not single:
            items = _by_filter(client, path, table, params, batch)
            if items is None:
                log.warning("%s ignores filter[id]: reading the restored %s one id a request", path, table)
                single = True
            else:
                found.update(items)
        if single:
            found.update(_one_by_one(client, path, params, [i for i in batch if i not in found]))
    return [found[i] for i in ids if i in found], [i for i in ids if i not in found], single


def _by_filter(client: AmoClient, path: str, collection: str, params: dict, batch: list[int]) -> dict[int, dict] | None:
    """{id: item} of `batch` read with `filter[id][]`, page after page up to an empty page, a page with
    nothing new, or every id found; None when a row comes back that was not asked for (filters ignored)."""
    wanted, found = set(batch), {}
    query = {**params, "filter[id][]": batch, "limit": len(batch)}
    for page_no in itertools.count(1):
        page = read_page(client, path, collection, {**query, "page": page_no})
        ids = [item.get("id") for item in page.items]
        if any(i not in wanted for i in ids):
            return None
        fresh = {i: item for i, item in zip(ids, page.items) if i not in found}
        found.update(fresh)
        if not fresh or len(found) == len(wanted):
            return found
    raise AssertionError("unreachable")


def _one_by_one(client: AmoClient, path: str, params: dict, ids: list[int]) -> Iterator[tuple[int, dict]]:
    for record_id in ids:
        try:
            item = client.get_json(f"{path}/{record_id}", params)
        except AmoHTTPError as exc:
            if exc.status == 404:
                continue
            raise
        if item is None:  # 204: no such live record
            continue
        if not isinstance(item, dict) or item.get("id") != record_id:
            raise AmoPayloadError(f"{path}/{record_id}", None, "not the record asked for")
        yield record_id, item


def complete(pipeline: dlt.Pipeline, account_id: int, make_client: Callable[[], AmoClient],
             filters: Callable[[AmoClient], bool], apply_deletions: Callable[[], dict[str, int]]) -> Restored:
    """Read every live stub of the warehouse again by id and load it, ask once for each record a merge
    event flagged deleted (merges.py), then apply deletions again. Only account `account_id`'s rows
    (the account the data folder holds and `make_client` reads: `filters` checks it).

    `make_client` is called only when there is something to read; `filters(client)` says whether the
    account honours list filters (`is_api_filter_enabled`)."""
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as sql_client:
        present = {row[0] for row in sql_client.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", dataset)}
        stubs = live_stubs(sql_client, dataset, account_id)
        merged = merges.unchecked(sql_client, dataset, present, account_id)
    result = Restored()
    if not stubs and not merged:
        return result
    client = make_client()
    honoured = filters(client)
    rows: dict[str, list[dict]] = {}
    for table, ids in stubs.items():
        items, missing, single = fetch(client, table, ids, honoured)
        rows[table] = _shape(table, items, account_id)
        result.fetched[table], result.missing[table] = len(rows[table]), missing
        result.by_single_get |= single
    checked = {}
    for table, pairs in merged.items():
        items, _, single = fetch(client, table, [record_id for record_id, _ in pairs], honoured)
        rows.setdefault(table, []).extend(_shape(table, items, account_id))
        checked[table] = (pairs, {item["id"] for item in items})
        result.merged_live[table] = sorted(item["id"] for item in items)
        result.by_single_get |= single
    _load(pipeline, rows)
    with pipeline.sql_client() as sql_client:
        for table, (pairs, found) in checked.items():
            merges.record(sql_client, dataset, table, pairs, found, account_id)
    apply_deletions()
    if message := result.warning():
        log.warning(message)
    return result


def _shape(table: str, items: list[dict], account_id: int) -> list[dict]:
    spec = endpoints.entity(table)
    path, entity = spec.lists[0]
    try:
        return [row for item in items for row in spec.rows(item, entity, account_id)]
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise AmoPayloadError(path, None, f"a record read by id: {exc}") from None


def _load(pipeline: dlt.Pipeline, rows: dict[str, list[dict]]) -> None:
    """Merge the whole records over their stubs, with the raw tables' own hints (endpoints.py)."""
    resources = []
    for table, table_rows in rows.items():
        if table_rows:
            spec = endpoints.entity(table)
            resources.append(dlt.resource(table_rows, name=table, write_disposition="merge",
                                          primary_key=list(spec.primary_key),
                                          file_format=endpoints.FILE_FORMAT, columns=spec.columns,
                                          nested_hints=spec.nested or None))
    if resources:  # run()'s steps, with the load-id check before the load (load_ids.py)
        pipeline.extract(resources)
        pipeline.normalize()
        load_ids.refuse_known(pipeline, accounts.key_of_pipeline(pipeline.pipeline_name))
        pipeline.load().raise_on_failed_jobs()

