"""The dlt source `amocrm`: one resource per raw table of docs/design.md §3.

Configuration is dlt's: `[sources.amocrm]` in `.dlt/secrets.toml` /
`.dlt/config.toml` or `SOURCES__AMOCRM__*` env vars (see `.dlt/secrets.toml.example`).
No amoCRM setting at all = the embedded simulator (pipelines/amocrm/settings.py).

Incremental resources keep two things in dlt state (committed with each load
package, restored from DuckDB when local state is gone): the dlt cursor (max
`updated_at`/`created_at` loaded), re-read with a `lag` of `overlap_seconds`
because timestamps are whole seconds and a second may still be filling while it
is read; and `recent`, a digest of every row inside that overlap, so re-read rows
that did not change are dropped and a run with no changes loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from pipelines.amocrm import embedded, origin, records
from pipelines.amocrm.client import AmoClient, AmoError, AmoPayloadError, RequestStats
from pipelines.amocrm.connect import connect
from pipelines.amocrm.restored import ENDPOINTS as ENTITY_LISTS
from pipelines.amocrm.paging import (
    Endpoint,
    FiltersIgnored,
    ScanCounters,
    all_pages,
    fallback_scan,
    keyset_scan,
    striped_scan,
    window_keep,
    window_scan,
)

log = logging.getLogger(__name__)

BIGINT, TEXT, BOOL = {"data_type": "bigint"}, {"data_type": "text"}, {"data_type": "bool"}
KEY = {"data_type": "bigint", "nullable": False}


def _columns(spec: str, **overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`"id:key name:text price"` -> dlt column hints (bare names are bigint)."""
    types = {"key": KEY, "text": TEXT, "bool": BOOL, "bigint": BIGINT}
    columns = {}
    for token in spec.split():
        name, _, kind = token.partition(":")
        columns[name] = dict(types[kind or "bigint"])
    for name, hint in overrides.items():
        columns[name] = {**columns.get(name, {}), **hint}
    return columns


def _child(spec: str) -> dict[str, Any]:
    return dlt.mark.make_nested_hints(columns=_columns(spec))


CFV = "field_id field_name:text field_code:text field_type:text value:text enum_id enum_code:text"
TAGS = "tag_id name:text"
# DuckDB loads jsonl files in bulk; dlt's default for it (INSERT statements) took 20 s and 2 GB for 36k events
FILE_FORMAT = "jsonl"
CURSOR = {"dedup_sort": "desc"}  # within one load, the newest version of a row wins

COLUMNS = {
    "account": _columns(
        "id:key name:text subdomain:text currency:text currency_symbol:text country:text language:text "
        "timezone:text timezone_offset:text is_loss_reason_enabled:bool is_api_filter_enabled:bool"
    ),
    "task_types": _columns("id:key name:text code:text"),
    "user_groups": _columns("id:key name:text"),
    "users": _columns("id:key name:text email:text lang:text is_admin:bool is_active:bool is_free:bool group_id role_id"),
    "pipelines": _columns("id:key name:text sort is_main:bool is_unsorted_on:bool is_archive:bool"),
    "pipeline_statuses": _columns("pipeline_id:key id:key name:text sort type color:text is_editable:bool"),
    "loss_reasons": _columns("id:key name:text sort created_at updated_at"),
    "custom_fields": _columns("entity_type:text id:key name:text code:text type:text sort is_predefined:bool"),
    "leads": _columns(
        "id:key name:text price responsible_user_id group_id status_id pipeline_id loss_reason_id source_id "
        "source_name:text company_id created_by updated_by created_at updated_at closed_at closest_task_at score "
        "labor_cost is_deleted:bool deleted_at",
        updated_at=CURSOR,
    ),
    "contacts": _columns(
        "id:key name:text first_name:text last_name:text responsible_user_id group_id company_id created_by "
        "updated_by created_at updated_at is_deleted:bool deleted_at",
        updated_at=CURSOR,
    ),
    "companies": _columns(
        "id:key name:text responsible_user_id group_id created_by updated_by created_at updated_at "
        "is_deleted:bool deleted_at",
        updated_at=CURSOR,
    ),
    "events": _columns(
        "id:text type:text entity_type:text entity_id created_by created_at status_id_before pipeline_id_before "
        "status_id_after pipeline_id_after note_id message_id:text talk_id message_origin:text linked_talk_contact_id "
        "nps_rate responsible_user_id_before responsible_user_id_after value_before_json:text value_after_json:text",
        id={"nullable": False},
    ),
    "notes": _columns(
        "id:key entity_type:text entity_id note_type:text created_by updated_by responsible_user_id group_id "
        "created_at updated_at text:text call_duration call_status call_result:text call_phone:text "
        "mail_income:bool mail_subject:text params_json:text",
        updated_at=CURSOR,
    ),
    "tasks": _columns(
        "id:key entity_type:text entity_id task_type_id text:text duration responsible_user_id group_id "
        "created_by updated_by created_at updated_at complete_till is_completed:bool result_text:text",
        updated_at=CURSOR,
    ),
    "deletions": _columns("entity_type:text id:key deleted_at deleted_by", deleted_at=CURSOR),
}
COLUMNS["deletions"]["entity_type"]["nullable"] = False

# Resources merged incrementally (the rest, small reference lists, are replaced each run).
MERGED_RESOURCES = frozenset({"leads", "contacts", "companies", "events", "notes", "tasks", "deletions"})

NESTED = {
    "custom_fields": {"enums": _child("field_id id value:text sort code:text")},
    "leads": {
        "custom_field_values": _child("lead_id " + CFV),
        "tags": _child("lead_id " + TAGS),
        "contacts": _child("lead_id contact_id is_main:bool"),
    },
    "contacts": {"custom_field_values": _child("contact_id " + CFV), "tags": _child("contact_id " + TAGS)},
    "companies": {"custom_field_values": _child("company_id " + CFV), "tags": _child("company_id " + TAGS)},
}


@dataclass
class ExtractionStats:
    """Live counters of one extraction (requests of the whole run, rows and pages per resource)."""

    requests: RequestStats = field(default_factory=RequestStats)
    resources: dict[str, ScanCounters] = field(default_factory=dict)
    new_fields: dict[str, set[str]] = field(default_factory=dict)  # list -> undocumented fields amoCRM sent
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def counters(self, resource: str) -> ScanCounters:
        return self.resources.setdefault(resource, ScanCounters())

    def note_fields(self, collection: str, items: list[Any]) -> None:
        """Remember fields amoCRM sends beyond `records.DOCUMENTED_FIELDS`: the raw tables keep only the
        documented ones, so a new field would otherwise go unseen. Warns once per field and run."""
        documented = records.DOCUMENTED_FIELDS[collection]
        extra = {key for item in items if isinstance(item, dict) for key in item.keys() - documented}
        if not extra:
            return
        with self._lock:
            seen = self.new_fields.setdefault(collection, set())
            fresh = extra - seen
            seen |= fresh
        if fresh:
            log.warning("amoCRM sends %s fields the extractor does not load: %s "
                        "(new in the API? see pipelines/amocrm/records.py)", collection, ", ".join(sorted(fresh)))


def fetch_account(client: AmoClient) -> dict[str, Any]:
    params = {"with": "users_groups,task_types,datetime_settings,is_api_filter_enabled"}
    body = client.get_json("/api/v4/account", params)
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise AmoError("malformed response from /api/v4/account: not an account object")
    return body


class _Connection:
    """The client and the account facts every resource needs, created on first use (not at definition time)."""

    def __init__(self, make_client: Callable[[], AmoClient]):
        self._make_client = make_client
        self._lock = threading.Lock()
        self._client: AmoClient | None = None
        self._cache: dict[str, Any] = {}

    @property
    def client(self) -> AmoClient:
        with self._lock:
            if self._client is None:
                client = self._make_client()
                self._cache["account"] = fetch_account(client)
                # the data folder must hold this account before anything is loaded (pipelines/amocrm/origin.py)
                origin.claim(self._cache["account"], client.base_url, embedded.is_embedded(client.base_url))
                self._client = client
            return self._client

    def cached(self, key: str, fetch: Callable[[AmoClient], Any]) -> Any:
        client = self.client
        with self._lock:
            if key not in self._cache:
                self._cache[key] = fetch(client)
            return self._cache[key]

    def account(self) -> dict[str, Any]:
        return self.cached("account", fetch_account)

    def filters_enabled(self) -> bool:
        return self.account().get("is_api_filter_enabled") is not False

    def now(self) -> int | None:
        """The server's clock, to cut scans into slices (correctness never depends on it)."""
        self.account()
        server_time = self.client.server_time
        return int(server_time) - 1 if server_time else None


def _digest(row: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(row, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def _skip_unchanged(pages: Iterator[list[dict]], key: Callable[[dict], str], cursor: str, overlap: int) -> Iterator[list[dict]]:
    """Drop rows re-read inside the overlap that are identical to what was loaded; remember the new overlap."""
    state = dlt.current.resource_state()
    recent: dict[str, list] = state.get("recent", {})
    updated = dict(recent)
    top = max((v for v, _ in recent.values()), default=0)
    for rows in pages:
        fresh = []
        for row in rows:
            row_key, entry = key(row), [row[cursor], _digest(row)]
            if recent.get(row_key) == entry:
                continue
            fresh.append(row)
            if updated.get(row_key, [0])[0] <= entry[0]:
                updated[row_key] = entry
            top = max(top, entry[0])
        if len(updated) > 2 * len(recent) + 10_000:  # keep memory flat during a full load
            updated = {k: e for k, e in updated.items() if e[0] >= top - overlap}
        if fresh:
            yield fresh
    state["recent"] = {k: e for k, e in updated.items() if e[0] >= top - overlap}


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
) -> list[DltResource]:
    """amoCRM account -> raw tables. Credentials: `access_token` (long-lived) or the OAuth2 quartet."""
    stats = stats or ExtractionStats()

    def make_client() -> AmoClient:
        return connect(base_url, access_token, client_id, client_secret, redirect_uri, refresh_token,
                       requests_per_second, max_retries, stats.requests)

    conn = _Connection(make_client)

    def reference(name: str, rows: Callable[[], Iterator[dict]], key: Any = "id") -> DltResource:
        def gen() -> Iterator[dict]:
            counters = stats.counters(name)
            for row in rows():
                counters.add(rows=1)
                yield row

        return dlt.resource(gen, name=name, write_disposition="replace", primary_key=key, file_format=FILE_FORMAT,
                            columns=COLUMNS[name], nested_hints=NESTED.get(name))

    def paged(path: str, collection: str, shape: Callable[[dict], Any], params: dict | None = None) -> Iterator[Any]:
        for page_no, items in all_pages(conn.client, path, collection, params, page_size):
            stats.note_fields(collection, items)
            try:
                yield from (shape(item) for item in items)
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                raise AmoPayloadError(path, page_no, str(exc)) from None

    def pipelines_list() -> list[dict]:
        def fetch(client: AmoClient) -> list[dict]:
            items = [it for _, page in all_pages(client, "/api/v4/leads/pipelines", "pipelines", limit=page_size)
                     for it in page]
            stats.note_fields("pipelines", items)
            return items

        return conn.cached("pipelines", fetch)

    def custom_fields() -> Iterator[dict]:
        for entity in ("leads", "contacts", "companies"):
            for row in paged(f"/api/v4/{entity}/custom_fields", "custom_fields", records.custom_field):
                row["entity_type"] = row["entity_type"] or entity
                yield row

    resources = [
        reference("account", lambda: iter([records.account(conn.account())])),
        reference("task_types", lambda: iter(records.task_types(conn.account()))),
        reference("user_groups", lambda: iter(records.user_groups(conn.account()))),
        reference("users", lambda: paged("/api/v4/users", "users", records.user)),
        reference("pipelines", lambda: (records.pipeline(p) for p in pipelines_list())),
        reference("pipeline_statuses", lambda: (s for p in pipelines_list() for s in records.pipeline_statuses(p)),
                  key=["pipeline_id", "id"]),
        reference("loss_reasons", lambda: paged("/api/v4/leads/loss_reasons", "loss_reasons", records.loss_reason)),
        reference("custom_fields", custom_fields),
    ]

    def shaper(collection: str, fn: Callable[[dict], Any]) -> Callable[[list[dict], int], list[Any]]:
        def shape(items: list[dict], page: int) -> list[Any]:
            stats.note_fields(collection, items)
            return [fn(item) for item in items]

        return shape

    def incremental(name: str, cursor: str, endpoints: list[Endpoint], scan: str, key: Any = "id",
                    merge: Any = "merge") -> DltResource:
        keys = [key] if isinstance(key, str) else key

        def row_key(row: dict) -> str:
            return ":".join(str(row[k]) for k in keys)

        def gen(position=dlt.sources.incremental(cursor, initial_value=0, lag=overlap_seconds)) -> Iterator[list]:
            counters = stats.counters(name)
            lo = max(0, int(position.start_value or 0))
            for endpoint in endpoints:
                pages = _scan(conn, endpoint, scan, lo, workers, counters)
                yield from _skip_unchanged(pages, row_key, cursor, overlap_seconds)

        return dlt.resource(gen, name=name, write_disposition=merge, primary_key=key, file_format=FILE_FORMAT,
                            columns=COLUMNS[name], nested_hints=NESTED.get(name))

    def ep(path: str, collection: str, cursor: str, shape: Callable[[dict], Any], **kw: Any) -> Endpoint:
        return Endpoint(path, collection, cursor, shaper(collection, shape), page_size=kw.pop("size", page_size), **kw)

    resources += [
        # leads, contacts, companies: the same lists and `with` as restored records read by id (restored.py)
        *(incremental(name, "updated_at", [ep(path, name, "updated_at", shape, params=dict(params))], "keyset")
          for name, (path, params, shape) in ENTITY_LISTS.items()),
        incremental("events", "created_at",
                    [ep("/api/v4/events", "events", "created_at", records.event, size=events_page_size)], "stripe"),
        incremental("notes", "updated_at",
                    [ep(f"/api/v4/{e}/notes", "notes", "updated_at", lambda it, e=e: records.note(it, e))
                     for e in ("leads", "contacts", "companies")], "keyset"),
        incremental("tasks", "updated_at", [ep("/api/v4/tasks", "tasks", "updated_at", records.task, order="id")], "window"),
        incremental("deletions", "deleted_at",
                    [ep(f"/api/v4/{e}", e, "updated_at", lambda it, e=e: records.deletion(it, e),
                        params={"with": "only_deleted"}) for e in ("leads", "contacts", "companies")],
                    "keyset", key=["entity_type", "id"]),
    ]
    return resources


def _scan(conn: _Connection, endpoint: Endpoint, kind: str, lo: int, workers: int, counters: ScanCounters) -> Iterator[list]:
    """Read one endpoint from `lo` with the strategy for its kind, falling back when filters are ignored."""
    client = conn.client
    if conn.filters_enabled():
        try:
            if kind == "keyset":
                yield from keyset_scan(client, endpoint, lo, conn.now(), workers, counters)
            elif kind == "window":
                yield from window_scan(client, endpoint, lo, conn.now(), workers, counters)
            else:
                params = {f"filter[{endpoint.cursor}][from]": lo}
                yield from striped_scan(client, endpoint, params, workers, counters, window_keep(endpoint, lo, None))
            return
        except FiltersIgnored:
            log.warning("%s ignores filters: reading it in full and filtering here", endpoint.path)
    yield from fallback_scan(client, endpoint, lo, workers, counters, order_desc=kind == "keyset")
