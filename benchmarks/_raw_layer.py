"""The raw layer of a simulated account, written without HTTP the way the extractor's dlt load writes it.

The simulator's API records (`SimulatedAccount.api_records`, or its API answers for a day of changes) go through the
extractor's record functions (`pipelines/amocrm/records.py`) into `raw_amocrm`: the extractor's column hints and
child tables, `_dlt_load_id`, a `_dlt_loads` entry, merge on the primary key, then the extractor's deletion step.
dlt's own row-by-row normaliser is left out: it would dominate a benchmark's set-up time, not what it measures.
Used by benchmarks/dbt_build.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import pandas as pd

from pipelines.amocrm import deletions, records
from pipelines.amocrm.source import COLUMNS, NESTED

BATCH_ROWS = 200_000
DATASET = "raw_amocrm"
PANDAS_TYPES = {"bigint": "Int64", "text": "object", "bool": "boolean"}
SQL_TYPES = {"bigint": "bigint", "text": "varchar", "bool": "boolean"}
ACCOUNT_QUERY = "with=users_groups,task_types,datetime_settings,is_api_filter_enabled"

ENTITIES = ("leads", "contacts", "companies")


class _Feed:
    """One list the extractor reads incrementally: the simulator listing (`api_records` name), the API
    path, its `with=`, the extractor's shaper and the field its `filter[...][from]` applies to."""

    def __init__(self, listing: str, path: str, with_: str, shape: Callable[[dict], Any], cursor: str = "updated_at"):
        self.listing, self.path, self.with_, self.shape, self.cursor = listing, path, with_, shape, cursor


INCREMENTAL: dict[str, list[_Feed]] = {
    "leads": [_Feed("leads", "leads", "contacts,loss_reason,source_id,source", records.lead)],
    "contacts": [_Feed("contacts", "contacts", "", records.contact)],
    "companies": [_Feed("companies", "companies", "", records.company)],
    "events": [_Feed("events", "events", "", records.event, cursor="created_at")],
    "tasks": [_Feed("tasks", "tasks", "", records.task)],
    "notes": [_Feed(f"notes_{e}", f"{e}/notes", "", lambda item, e=e: records.note(item, e)) for e in ENTITIES],
    "deletions": [_Feed(f"{e}_deleted", e, "only_deleted", lambda item, e=e: records.deletion(item, e))
                  for e in ENTITIES],
}
KEYS = {"pipeline_statuses": ["pipeline_id", "id"], "deletions": ["entity_type", "id"]}
PARENT_KEY = {"leads": "lead_id", "contacts": "contact_id", "companies": "company_id"}


class _Writer:
    """Writes shaped rows to raw tables in batches, with dlt's bookkeeping columns and child tables."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, load_id: str, account_id: int):
        self.connection = connection
        self.load_id = load_id
        self.account_id = account_id  # stamped on every row, as the extractor does (endpoints.EntitySpec.rows)

    def _columns(self, table: str) -> dict[str, str]:
        parent, _, child = table.partition("__")
        hints = NESTED[parent][child]["columns"] if child else COLUMNS[table]
        return {name: hint["data_type"] for name, hint in hints.items()}

    def create(self, table: str) -> None:
        columns = ", ".join(f'"{name}" {SQL_TYPES[kind]}' for name, kind in self._columns(table).items())
        dlt_columns = ("_dlt_root_id varchar, _dlt_parent_id varchar, _dlt_list_idx bigint, _dlt_id varchar"
                       if "__" in table else "_dlt_load_id varchar, _dlt_id varchar")
        self.connection.execute(f"create table if not exists {DATASET}.{table} ({columns}, {dlt_columns})")

    def _insert(self, table: str, rows: list[dict]) -> None:
        columns = self._columns(table)
        frame = pd.DataFrame({name: pd.array([self.account_id] * len(rows) if name == "account_id"
                                             else [row.get(name) for row in rows], dtype=PANDAS_TYPES[kind])
                              for name, kind in columns.items()})
        names = ", ".join(f'"{name}"' for name in columns)
        self.connection.register("batch", frame)
        if "__" in table:
            bookkeeping = "'', '', 0, gen_random_uuid()::varchar"
        else:
            bookkeeping = f"'{self.load_id}', gen_random_uuid()::varchar"
        self.connection.execute(f"insert into {DATASET}.{table} select {names}, {bookkeeping} from batch")
        self.connection.unregister("batch")

    def write(self, table: str, rows: Iterable[dict], merge: bool) -> int:
        """Insert the rows (replacing earlier versions of the same key and their child rows when `merge`)."""
        children = list(NESTED.get(table, {}))
        for name in [table] + [f"{table}__{c}" for c in children]:
            self.create(name)
        batch: list[dict] = []
        nested: dict[str, list[dict]] = {c: [] for c in children}
        count = 0

        def flush() -> None:
            if merge and batch:
                self._delete_previous(table, batch, children)
            self._insert(table, batch)
            for child, child_rows in nested.items():
                if child_rows:
                    self._insert(f"{table}__{child}", child_rows)
                child_rows.clear()
            batch.clear()

        for row in rows:
            for child in children:
                nested[child].extend(row.pop(child))
            batch.append(row)
            count += 1
            if len(batch) >= BATCH_ROWS:
                flush()
        if batch:
            flush()
        return count

    def _delete_previous(self, table: str, batch: list[dict], children: list[str]) -> None:
        keys = KEYS.get(table, ["id"])
        frame = pd.DataFrame({k: [row[k] for row in batch] for k in keys})
        self.connection.register("changed", frame)
        match = " and ".join(f"t.{k} = changed.{k}" for k in keys)
        for child in children:
            self.connection.execute(f"delete from {DATASET}.{table}__{child} "
                                    f"where {PARENT_KEY[table]} in (select id from changed)")
        self.connection.execute(f"delete from {DATASET}.{table} as t where exists (select 1 from changed where {match})")
        self.connection.unregister("changed")


class _SqlClient:
    """The slice of dlt's sql client that `deletions.apply` uses, over a DuckDB connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        self.connection = connection

    def execute_sql(self, sql: str, *params: Any) -> list[tuple]:
        return self.connection.execute(sql.replace("%s", "?"), list(params)).fetchall()


def _api_pages(api: Any, path: str, query: str, at: int) -> Iterator[dict]:
    """Every item of `GET /api/v4/{path}?{query}` at `at`, page by page (the simulator's API without HTTP)."""
    page = 1
    while True:
        response = api.get(f"/api/v4/{path}", f"{query}&limit=250&page={page}", at, "")
        if response.status == 204:
            return
        body = json.loads(response.body)
        yield from next(iter(body["_embedded"].values()))
        page += 1


def _rows(account: Any, api: Any, feeds: list[_Feed], at: int, since: int | None) -> Iterator[dict]:
    for feed in feeds:
        if since is None:
            items = account.api_records(feed.listing, at=at, with_=feed.with_)
        else:
            query = f"with={feed.with_}&filter[{feed.cursor}][from]={since + 1}"
            items = _api_pages(api, feed.path, query, at)
        yield from (feed.shape(item) for item in items)


def load(account: Any, warehouse: Path, at: int, since: int | None = None) -> dict[str, int]:
    """Load the account as of `at` into `raw_amocrm` (all of it, or only what changed after `since`)."""
    from pipelines.simulator.api import Api

    api = Api(account)
    load_id = f"{time.time():.6f}"
    counts: dict[str, int] = {}
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(f"create schema if not exists {DATASET}")
        reference = json.loads(api.get("/api/v4/account", ACCOUNT_QUERY, at, "").body)
        writer = _Writer(connection, load_id, reference["id"])
        pipelines = list(account.api_records("pipelines", at=at))
        fields = []
        for entity in ENTITIES:
            for item in account.api_records(f"custom_fields_{entity}", at=at):
                row = records.custom_field(item)
                row["entity_type"] = row["entity_type"] or entity
                fields.append(row)
        replaced = {
            "account": [records.account(reference)],
            "task_types": records.task_types(reference),
            "user_groups": records.user_groups(reference),
            "users": [records.user(item) for item in account.api_records("users", at=at)],
            "pipelines": [records.pipeline(item) for item in pipelines],
            "pipeline_statuses": [row for item in pipelines for row in records.pipeline_statuses(item)],
            "loss_reasons": [records.loss_reason(item) for item in account.api_records("loss_reasons", at=at)],
            "custom_fields": fields,
        }
        for table, rows in replaced.items():
            connection.execute(f"drop table if exists {DATASET}.{table}")
            for child in NESTED.get(table, {}):
                connection.execute(f"drop table if exists {DATASET}.{table}__{child}")
            counts[table] = writer.write(table, rows, merge=False)
        for table, feeds in INCREMENTAL.items():
            counts[table] = writer.write(table, _rows(account, api, feeds, at, since), merge=since is not None)
        connection.execute("create table if not exists raw_amocrm._dlt_loads (load_id varchar not null, "
                           "schema_name varchar, status bigint not null, inserted_at timestamp with time zone not null, "
                           "schema_version_hash varchar)")
        connection.execute("insert into raw_amocrm._dlt_loads values (?, 'amocrm', 0, now(), '')", [load_id])
        deletions.apply(_SqlClient(connection), DATASET, reference["id"])
    return counts
