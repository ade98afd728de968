"""Run the extraction: the pipeline, the post-load steps and the summary (CLI, Dagster and tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from dataclasses import asdict
from typing import Any, Callable, ContextManager, Iterable

import dlt

from pipelines import paths, runguard
from pipelines.amocrm import (account_lock, accounts, connect, deletions, embedded, load_ids, migrate, origin,
                              reference_prune, restored)
from pipelines.amocrm.client import AmoClient
from pipelines.amocrm.settings import CONNECTION_KEYS
from pipelines.amocrm.source import (
    COLUMNS,
    NESTED,
    ExtractionStats,
    amocrm_source,
    fetch_account,
)

PIPELINE_NAME = "amocrm"  # the account `default`'s pipeline (accounts.pipeline_name)
DATASET = "raw_amocrm"
DUCKDB_TYPES = {"bigint": "BIGINT", "text": "VARCHAR", "bool": "BOOLEAN", "double": "DOUBLE", "timestamp": "TIMESTAMPTZ"}


def make_pipeline(key: str = "default") -> dlt.Pipeline:
    """Account `key`'s dlt pipeline (its own cursors and state: accounts.pipeline_name), loading into the
    shared `<data>/warehouse.duckdb`, dataset `raw_amocrm`, where every row carries its `account_id`."""
    return dlt.pipeline(
        pipeline_name=accounts.pipeline_name(key),
        destination=dlt.destinations.duckdb(str(paths.warehouse_path())),
        dataset_name=DATASET,
        pipelines_dir=str(paths.data_dir() / ".dlt"),
    )


@dataclass
class Summary:
    rows: dict[str, int]
    requests: int
    retries: int
    statuses: dict[str, int]
    elapsed: float
    deletions_applied: dict[str, int]
    items: int = 0  # API items read (list rows; child-table rows not counted)
    extract_seconds: float = 0.0
    outside_window: int = 0
    fallback: list[str] = field(default_factory=list)
    new_fields: dict[str, list[str]] = field(default_factory=dict)  # list -> fields amoCRM sent, not loaded
    source: str = ""  # the account the rows came from (origin.Origin.label)
    restored_records: restored.Restored = field(default_factory=restored.Restored)  # live stubs read again by id
    load_info: Any = None  # dlt's LoadInfo of the load (Dagster's asset metadata is made from it)

    def format(self) -> str:
        lines = [f"source: {self.source}"] if self.source else []
        lines.append(f"{'table':<36}{'rows':>10}")
        lines += [f"{table:<36}{count:>10,}" for table, count in sorted(self.rows.items())]
        total = sum(self.rows.values())
        lines.append(f"{'total':<36}{total:>10,}")
        rate = self.requests / self.elapsed if self.elapsed else 0.0
        lines.append(f"items read {self.items:,} in {self.extract_seconds:.1f}s of extraction")
        lines.append(f"requests {self.requests:,} ({rate:.2f}/s), retries {self.retries:,}, "
                     f"statuses {dict(sorted(self.statuses.items(), key=str))}, elapsed {self.elapsed:.1f}s")
        if any(self.deletions_applied.values()):
            lines.append(f"deletion flags changed: {self.deletions_applied}")
        if any(self.restored_records.fetched.values()):
            lines.append(f"restored records read again by id (known only from the trash): {self.restored_records.fetched}")
        if warning := self.restored_records.warning():
            lines.append(f"WARNING: {warning}")
        if self.fallback:
            lines.append(f"filters ignored by the server, read in full: {', '.join(self.fallback)} "
                         f"({self.outside_window:,} rows outside the window dropped)")
        if self.new_fields:
            lines.append("fields amoCRM sent that are not loaded (new in the API?): "
                         + "; ".join(f"{name}: {', '.join(fields)}" for name, fields in self.new_fields.items()))
        return "\n".join(lines)


def run_extraction(
    base_url: str | None = None,
    access_token: str | None = None,
    *,
    pipeline: dlt.Pipeline | None = None,
    resources: list[str] | None = None,
    stats: ExtractionStats | None = None,
    on_start: Callable[[ExtractionStats], None] | None = None,
    account_key: str | None = None,
    write_lock: Callable[[], ContextManager[Any]] | None = None,
    holder: dict | None = None,
    drop_local: bool = False,
    **settings: Any,
) -> Summary:
    """Extract one account and load it, then apply deletions. `account_key` None = the one configured
    account (several: refused, accounts.the_account). `base_url`/`access_token` None = dlt config
    (and no configured `base_url` = the embedded simulator); `settings` are other source arguments.

    Three phases, so accounts can extract in parallel processes into one warehouse (single writer):
    A (sync dlt's state, stamp a legacy warehouse) and C (load, post-load SQL) hold the warehouse lock
    (`write_lock`, default runguard.warehouse_writes: a no-op inside a run that holds it already);
    B (extract and normalize: the API and local files) holds nothing, and takes the minutes.
    The whole run holds the account's own lock (account_lock: a second extraction of the same account
    fails at once with AccountBusy, naming `holder`, e.g. {"run_id": ...}); a package whose load id the
    warehouse holds already is refused before loading (load_ids.DuplicateLoadId). `drop_local` first drops
    the pipeline's local folder (under the account's lock), so its state comes from the warehouse only."""
    chosen = accounts.the_account() if account_key is None else accounts.account(account_key)
    with account_lock.holding(chosen.key, holder):
        if drop_local:
            (pipeline or make_pipeline(chosen.key)).drop()
        return _extract(chosen, base_url, access_token, pipeline, resources, stats, on_start, write_lock, settings)


def _extract(chosen: accounts.AccountSettings, base_url: str | None, access_token: str | None,
             pipeline: dlt.Pipeline | None, resources: list[str] | None, stats: ExtractionStats | None,
             on_start: Callable[[ExtractionStats], None] | None,
             write_lock: Callable[[], ContextManager[Any]] | None, settings: dict[str, Any]) -> Summary:
    """run_extraction's three phases, for the account `chosen` (its lock held)."""
    stats = stats or ExtractionStats()
    explicit = {**accounts.source_arguments(chosen),
                **{k: v for k, v in {"base_url": base_url, "access_token": access_token, **settings}.items() if v is not None}}
    source = amocrm_source(stats=stats, **{k: v for k, v in explicit.items() if v is not None})
    if resources:
        source = source.with_resources(*resources, "extractions")  # the run's account row goes with any subset
    pipeline = pipeline or make_pipeline(chosen.key)
    writes = write_lock or _writes_of(chosen.key)
    started = time.monotonic()
    with writes():  # phase A: what dlt and migrate read from the warehouse before extracting
        migrate.prepare(pipeline)  # a warehouse from before account_id: stamped before the first keyed merge
        pipeline.sync_destination()  # run() would do it during extract, i.e. outside the lock
        pending = pipeline.has_pending_data
        if pending:  # a package a failed run left: loaded first, alone, as dlt's run() does
            load_ids.refuse_known(pipeline, chosen.key, resumed=True)
            if on_start:
                on_start(stats)
            info = pipeline.run(source)
    if not pending:  # phase B: the API and local files only, alongside other accounts' processes
        if on_start:
            on_start(stats)
        extract_started = time.monotonic()
        pipeline.extract(source)
        extract_seconds = time.monotonic() - extract_started
        row_counts = pipeline.normalize().row_counts
    with writes():  # phase C: load and post-load SQL, one process at a time
        if not pending:
            load_ids.refuse_known(pipeline, chosen.key)  # only now does no other load come in between
            info = pipeline.load()
        info.raise_on_failed_jobs()
        applied = finish_load(pipeline, chosen.key, loaded=info.loads_ids, reference=stats.read_whole)
        if pending:
            trace = pipeline.last_trace  # of the main run: complete_restored may run the pipeline again
            row_counts = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
            extract_seconds = sum((s.finished_at - s.started_at).total_seconds() for s in trace.steps if s.step == "extract")
        completed = complete_restored(pipeline, stats, **explicit)
    elapsed = time.monotonic() - started
    return Summary(
        rows={t: n for t, n in row_counts.items() if not t.startswith("_dlt")},
        requests=stats.requests.requests,
        retries=stats.requests.retries,
        statuses={str(k): v for k, v in stats.requests.statuses.items()},
        elapsed=elapsed,
        deletions_applied=applied,
        items=sum(c.rows for c in stats.resources.values()),
        extract_seconds=extract_seconds,
        outside_window=sum(c.outside_window for c in stats.resources.values()),
        fallback=sorted(name for name, c in stats.resources.items() if c.fallback),
        new_fields={name: sorted(fields) for name, fields in sorted(stats.new_fields.items())},
        source=held.label() if (held := origin.held_origin(paths.account_dir(chosen.key))) else "",
        restored_records=completed,
        load_info=info,
    )


def _writes_of(key: str) -> Callable[[], ContextManager[None]]:
    """The warehouse lock for one write phase of account `key`'s extraction, naming it to whoever waits."""
    holder = {"command": f"extraction of account '{key}'", "process": asdict(runguard.ProcessIdentity.current())}
    return lambda: runguard.warehouse_writes(holder)


# the source arguments that reach the client: the connection settings, and how hard to pull and retry
CONNECTION = (*CONNECTION_KEYS, "requests_per_second", "max_retries")


def complete_restored(pipeline: dlt.Pipeline, stats: ExtractionStats, **settings: Any) -> restored.Restored:
    """After `finish_load`: read restored records known only as stubs again by id, whole (restored.py).
    `settings`: the source arguments of the run (None = from dlt config, as for the source); the account
    is the pipeline's (accounts.pipeline_name)."""
    key = accounts.key_of_pipeline(pipeline.pipeline_name)

    def make_client() -> AmoClient:
        values = {**accounts.account(key).values, **{k: v for k, v in settings.items() if k in CONNECTION and v is not None}}
        return connect.connect(**values, stats=stats.requests, account_key=key)

    def filters(client: AmoClient) -> bool:
        account = fetch_account(client)
        origin.claim(account, client.base_url, embedded.is_embedded(client.base_url), key=key)  # the same account
        return account.get("is_api_filter_enabled") is not False

    held = origin.held_origin(paths.account_dir(key))
    if held is None:  # no account ever connected: no row, no stub to read again
        return restored.Restored()
    return restored.complete(pipeline, held.account_id, make_client, filters, lambda: finish_load(pipeline, key))


def finish_load(pipeline: dlt.Pipeline, key: str | None = None, *, loaded: list[str] | None = None,
                reference: Iterable[str] = ()) -> dict[str, int]:
    """Post-load steps (also for Dagster after its dlt run), for account `key` (None: the pipeline's):
    create declared tables that have had no rows yet, so SQL on §3 never meets a missing table; prune the
    account's reference rows the load `loaded` did not rewrite (reference_prune.py; `reference`: the
    lists read whole in that load, ExtractionStats.read_whole; none: nothing pruned); name the accounts
    (`source_origin`); and apply deletions to the account's rows (the account this run read:
    origin.claim checked it before anything was loaded)."""
    key = key or accounts.key_of_pipeline(pipeline.pipeline_name)
    held = origin.held_origin(paths.account_dir(key))  # before dlt's client opens the warehouse
    if loaded is None:  # Dagster: the pipeline's last run
        trace = pipeline.last_trace
        loaded = list(trace.last_load_info.loads_ids) if trace and trace.last_load_info else []
    with pipeline.sql_client() as client:
        _create_missing_tables(pipeline, client)
        origin.record(client, pipeline.dataset_name)
        if held is None:  # no account connected, so no row was loaded
            return {}
        reference_prune.prune(client, pipeline.dataset_name, held.account_id, loaded, reference)
        return deletions.apply(client, pipeline.dataset_name, held.account_id)


def _create_missing_tables(pipeline: dlt.Pipeline, client: Any) -> None:
    """dlt creates a table only when it first gets rows, yet SQL on §3 needs every table: a child
    table whose parent had no nested rows yet, or a resource that had no rows at all (an account
    where nothing was ever deleted has no `deletions`). Create what is missing, empty: in dlt's own
    layout when dlt's schema knows the table, else from the declared columns (source.COLUMNS/NESTED);
    add the columns an existing table lacks the same way (a column declared after it was made)."""
    dataset = pipeline.dataset_name
    present: dict[str, set[str]] = {}
    for table_name, column in client.execute_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s", dataset):
        present.setdefault(table_name, set()).add(column)
    tables = {name: _layout(columns, parent=None) for name, columns in COLUMNS.items()}
    tables.update({f"{parent}__{child}": _layout(hints["columns"], parent=parent)
                   for parent, children in NESTED.items() for child, hints in children.items()})
    for name, table in pipeline.default_schema.tables.items():
        if not name.startswith("_dlt") and table.get("columns"):
            declared = tables.get(name, {})  # a declared type wins over a column dlt knows only partly (no type)
            tables[name] = {**declared, **{col: declared.get(col) or spec.get("data_type")
                                           for col, spec in table["columns"].items()}}
    for name, columns in tables.items():
        if name not in present:
            ddl = ", ".join(f'"{col}" {DUCKDB_TYPES.get(kind, "VARCHAR")}' for col, kind in columns.items())
            client.execute_sql(f'CREATE TABLE IF NOT EXISTS {dataset}."{name}" ({ddl})')
            continue
        # a column declared since the table was made (a warehouse from before an upgrade) and that
        # has had no rows yet: dlt adds it only with rows, and dlt checks the table before adding it
        for col, kind in columns.items():
            if kind and col not in present[name]:
                client.execute_sql(f'ALTER TABLE {dataset}."{name}" ADD COLUMN IF NOT EXISTS "{col}" '
                                   f'{DUCKDB_TYPES.get(kind, "VARCHAR")}')


def _layout(columns: dict[str, dict[str, Any]], parent: str | None) -> dict[str, str]:
    """Declared columns plus the bookkeeping columns dlt adds to a root or child table
    (children of merged resources, i.e. all, also carry `_dlt_root_id`)."""
    layout = {col: hint.get("data_type") for col, hint in columns.items()}
    if parent is None:
        return layout | {"_dlt_load_id": "text", "_dlt_id": "text"}
    root = {"_dlt_root_id": "text"}  # every resource is merged (reference lists too, per account)
    return layout | root | {"_dlt_parent_id": "text", "_dlt_list_idx": "bigint", "_dlt_id": "text"}
