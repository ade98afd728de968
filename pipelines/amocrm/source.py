"""The dlt source `amocrm`: one resource per raw table of docs/design.md §3, one per entry of `endpoints.ENDPOINTS`.

Configuration is dlt's: `[sources.amocrm]` in `.dlt/secrets.toml` /
`.dlt/config.toml` or `SOURCES__AMOCRM__*` env vars (see `.dlt/secrets.toml.example`).
No amoCRM setting at all = the embedded simulator (pipelines/amocrm/settings.py).

Every row, and every row of its nested lists, carries `account_id` (amoCRM's id of the account it
was read from, endpoints.EntitySpec.rows), the first column of every merge key.

Reference tables (no cursor) are read whole every run (paging/reference.py) and merged on their key;
run.py then prunes this account's rows the run did not rewrite, so each account's list is replaced
without touching another account's rows in the shared dataset. `extractions` gets one row per run
(which account, through which pipeline), in the same load package as the data.
Incremental resources keep two things in dlt state (committed with each load
package, restored from DuckDB when local state is gone): the dlt cursor (max
`updated_at`/`created_at` loaded), re-read with a `lag` of `overlap_seconds`
because timestamps are whole seconds and a second may still be filling while it
is read; and `recent`, a digest of every row inside that overlap, so re-read rows
that did not change are dropped and a run with no changes loads nothing (overlap.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlparse

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from pipelines.amocrm import embedded, endpoints, records
from pipelines.amocrm.connect import connect
from pipelines.amocrm.endpoints import COLUMNS, FILE_FORMAT, MERGED_RESOURCES, NESTED, EntitySpec
from pipelines.amocrm.overlap import skip_unchanged
from pipelines.amocrm.paging import Endpoint
from pipelines.amocrm.paging.reference import reference_rows
from pipelines.amocrm.paging.strategy import scan
from pipelines.amocrm.session import Session, fetch_account
from pipelines.amocrm.stats import ExtractionStats

# re-exported: run.py, Dagster and the CLI import them from here
__all__ = ["COLUMNS", "FILE_FORMAT", "MERGED_RESOURCES", "NESTED", "ExtractionStats", "amocrm_source", "fetch_account"]


@dlt.source(name="amocrm", section="amocrm", max_table_nesting=1)
def amocrm_source(
    base_url: Optional[str] = None,
    access_token: Optional[TSecretStrValue] = None,
    client_id: Optional[str] = None,
    client_secret: Optional[TSecretStrValue] = None,
    redirect_uri: Optional[str] = None,
    refresh_token: Optional[TSecretStrValue] = None,
    requests_per_second: float = 7.0,
    workers: int = 4,
    page_size: int = 250,
    events_page_size: int = 250,
    overlap_seconds: int = 300,
    max_retries: int = 8,
    stats: Optional[ExtractionStats] = None,
    account_key: str = "default",
) -> list[DltResource]:
    """amoCRM account -> raw tables. Credentials: `access_token` (long-lived) or the OAuth2 quartet.
    `account_key`: the configured account (its token store and its account marker, origin.py)."""
    stats = stats or ExtractionStats()
    session = Session(lambda: connect(base_url, access_token, client_id, client_secret, redirect_uri, refresh_token,
                                      requests_per_second, max_retries, stats.requests, account_key=account_key),
                      account_key=account_key)
    page_sizes = {"page_size": page_size, "events_page_size": events_page_size}
    build = _Builder(session, stats, page_sizes, workers, overlap_seconds)
    return [*(build.incremental(spec) if spec.merged else build.reference(spec) for spec in endpoints.ENDPOINTS),
            _extractions(session)]


EXTRACTIONS_COLUMNS = endpoints._columns(
    "account_key:text pipeline_name:text subdomain:text base_url_host:text simulated:bool currency:text "
    "timezone:text server_time", extracted_at={"data_type": "timestamp"})


def _extractions(session: Session) -> DltResource:
    """One row per run: which amoCRM account, under which key and pipeline. Loaded in the same package as
    the data, so every `_dlt_load_id` names its account (origin.record builds `source_origin` from it)."""
    def gen() -> Iterator[dict]:
        account, client = records.account(session.account()), session.client  # shaped: timezone is nested
        try:
            pipeline_name = dlt.current.pipeline().pipeline_name
        except Exception:  # extracted outside a pipeline (never in product code)
            pipeline_name = None
        yield {"account_id": account["id"], "account_key": session.account_key, "pipeline_name": pipeline_name,
               "subdomain": account.get("subdomain"), "base_url_host": urlparse(client.base_url).hostname,
               "simulated": embedded.is_embedded(client.base_url), "currency": account.get("currency"),
               "timezone": account.get("timezone"), "server_time": int(client.server_time) if client.server_time else None,
               "extracted_at": datetime.now(timezone.utc)}

    return dlt.resource(gen, name="extractions", write_disposition="append", columns=EXTRACTIONS_COLUMNS)


class _Builder:
    """Makes the dlt resource of one `EntitySpec`, on the run's session and with the source's settings."""

    def __init__(self, session: Session, stats: ExtractionStats, page_sizes: dict[str, int], workers: int,
                 overlap: int):
        self.session, self.stats, self.page_sizes = session, stats, page_sizes
        self.workers, self.overlap = workers, overlap

    def _resource(self, spec: EntitySpec, gen: Callable[..., Iterator[Any]]) -> DltResource:
        return dlt.resource(gen, name=spec.name, write_disposition="merge",
                            primary_key=list(spec.primary_key),
                            file_format=FILE_FORMAT, columns=spec.columns, nested_hints=spec.nested or None)

    def reference(self, spec: EntitySpec) -> DltResource:
        def gen() -> Iterator[dict]:
            counters = self.stats.counters(spec.name)
            limit = self.page_sizes[spec.page_size_setting]
            for row in reference_rows(spec, self.session, limit, self.stats.note_fields):
                counters.add(rows=1)
                yield row
            self.stats.read_whole.add(spec.name)  # the whole list: rows it no longer has can be pruned

        # Not on dlt's thread pool: parallel reference lists would send several first requests at once,
        # and a rejected token or a blocked account must be met by exactly one request (test_config_errors).
        return self._resource(spec, gen)

    def incremental(self, spec: EntitySpec) -> DltResource:
        lists = [Endpoint(path, spec.collection or entity, spec.list_cursor or spec.cursor,
                          self._shaper(spec, spec.collection or entity, entity), order=spec.order,
                          params=dict(spec.params), page_size=self.page_sizes[spec.page_size_setting])
                 for path, entity in spec.lists]
        session, stats, overlap = self.session, self.stats, self.overlap

        def row_key(row: dict) -> str:
            return ":".join(str(row[k]) for k in spec.key)

        def gen(position=dlt.sources.incremental(spec.cursor, initial_value=0, lag=overlap)) -> Iterator[list]:
            counters = stats.counters(spec.name)
            lo = max(0, int(position.start_value or 0))
            for endpoint in lists:
                # poll: dlt's one thread reads the other resources while this one has no page ready
                pages = scan(session.client, endpoint, spec.scan, lo, filters=session.filters_enabled(),
                             now=session.now, workers=self.workers, counters=counters, poll=True)
                yield from skip_unchanged(pages, row_key, spec.cursor, overlap)

        return self._resource(spec, gen)

    def _shaper(self, spec: EntitySpec, collection: str, entity: str) -> Callable[[list[dict], int], list[Any]]:
        """Shape one page on the worker thread that read it (errors are reported by paging.pages.emit)."""
        def shape(items: list[dict], page: int) -> list[Any]:
            self.stats.note_fields(collection, items)
            account_id = self.session.account()["id"]
            return [row for item in items for row in spec.rows(item, entity, account_id)]

        return shape
