"""`dbt build` time and peak memory on big simulated accounts, full and incremental.

For each size (100,000 and 1,000,000 leads, with their contacts, companies, events, notes and tasks)
the raw layer is built without HTTP, in a worker process: the simulator's API records (`SimulatedAccount.api_records`)
go through the extractor's record functions (`pipelines/amocrm/records.py`) and are written to
`raw_amocrm` the way dlt writes them (the extractor's column hints and child tables, `_dlt_load_id`,
a `_dlt_loads` entry, merge on the primary key, then the extractor's deletion step). dlt's own
row-by-row normaliser is left out because it would dominate the set-up time, not what is measured.
Then: `dbt build` on the fresh warehouse (full); three simulated days of changes, each loaded the same way
(read from the simulator's API with `filter[...][from]`, as the extractor's incremental run does) and then
built (incremental), as the daily job runs; then `dbt build --full-refresh` on the same data. Prints the
wall time, the CPU seconds (user + system) and the peak resident memory of each dbt process (run as the
daily build runs it: pipelines/dbt_daily_build.py's command, arguments and JSON log lines), the time each model issue 15
added spent in it (from those lines, written to dbt_target/run_results.json) and their sum, the host's speed
before each incremental build (`host_reference`: the machine is shared, its speed varies by the hour), and a
PASS/MISS line: PASS only if every incremental build is under the 20 s target. Last figures: README "Tests and
benchmarks" (fct_pipeline_daily's incremental run at 100k leads: 0.35 s CPU against 1.14 s for its full build).
The builds share one target folder, so only the first parses the project in full (dbt's partial
parsing); dbt's threads are the profile's (`AMOCRM_KPI_DBT_THREADS`, default 4), e.g. to compare 1 and 4.

    .venv/bin/python -m benchmarks dbt_build            # both sizes
    .venv/bin/python -m benchmarks.dbt_build 20000      # other sizes, e.g. for a quick look
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import duckdb
import pandas as pd

from pipelines.amocrm import deletions, records
from pipelines.amocrm.source import COLUMNS, NESTED
from pipelines.dbt_daily_build import BUILD_ARGS, DBT_COMMAND, LOG_ENV

SIZES = (100_000, 1_000_000)
SEED = 7
DAY = 86_400
BATCH_ROWS = 200_000
PROJECT_ROOT = Path(__file__).resolve().parent.parent
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


class Build(NamedTuple):
    """One `dbt build`: wall seconds, peak resident memory (MiB) and the CPU seconds (user + system) of the
    dbt process. On a machine shared with other work the CPU seconds compare better than the wall time."""

    seconds: float
    memory: float
    cpu: float

    def line(self) -> str:
        return f"{self.seconds:6.1f}s  CPU {self.cpu:6.1f}s  peak {self.memory:,.0f} MiB"


# The daily build's dbt command and log format (pipelines/dbt_daily_build.py): no unit tests, no JSON artifacts,
# JSON log lines. The time of each node is read from those lines (`node_seconds`) and written where dbt's
# run_results.json would be, in its shape (`unique_id`, `execution_time`, `status`; `elapsed_time`).
RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogHookEndLine")


def node_seconds(log_lines: Iterable[str]) -> dict[str, Any]:
    """dbt's JSON log lines -> {"elapsed_time", "results": [{"unique_id", "execution_time", "status"}]}."""
    results, elapsed = [], None
    for line in log_lines:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        name, data = event["info"]["name"], event.get("data", {})
        if name in RESULT_EVENTS:
            results.append({"unique_id": data["node_info"]["unique_id"], "status": data.get("status"),
                            "execution_time": float(data.get("execution_time", 0.0))})
        elif name == "FinishedRunningStats":
            elapsed = float(data.get("execution_time", 0.0))
    return {"written_by": "benchmarks.dbt_build from dbt's log lines", "elapsed_time": elapsed, "results": results}


def _messages(output: str) -> str:
    """dbt's output as text: the message of each JSON log line, other lines as they are."""
    return "\n".join(json.loads(line)["info"]["msg"] if line.startswith("{") else line for line in output.splitlines())


def dbt_build(data_dir: Path, *args: str) -> Build:
    """Run `dbt build` (as the daily build runs it) on the warehouse in `data_dir`."""
    env = {**os.environ, **LOG_ENV, "AMOCRM_KPI_DATA_DIR": str(data_dir)}
    project = PROJECT_ROOT / "dbt_project"
    results = data_dir / "dbt_target" / "run_results.json"
    results.unlink(missing_ok=True)  # an earlier build's must not pass for this one's
    command = [*DBT_COMMAND, *BUILD_ARGS, *args, "--project-dir", str(project), "--profiles-dir", str(project),
               "--target-path", str(data_dir / "dbt_target"), "--log-path", str(data_dir / "dbt_logs")]
    os.sync()  # the load's writes still in the page cache would be flushed during the build, charged to dbt
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"dbt build failed:\n{_messages(output)[-5000:]}")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(node_seconds(output.splitlines())))
    return Build(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


# The models issue 15 added (response, daily pipeline, hygiene, breakdowns): their share of each build.
NEW_MODELS = ("int_lead_touches", "int_lead_first_response", "fct_response", "int_lead_stage_stays",
              "int_stage_stuck_thresholds", "int_pipeline_daily_stays", "fct_pipeline_daily", "fct_crm_hygiene",
              "fct_sales_by_dimension")
TARGET_INCREMENTAL_SECONDS = 20.0
INCREMENTAL_DAYS = 3  # days of changes, each loaded then built as production does: the target holds for every one


def models_seconds(data_dir: Path, names: Iterable[str] = NEW_MODELS) -> str:
    """The time (run_results.json `execution_time`) the last dbt build spent in each of the models `names`,
    and their sum, as text; a name the build did not run is said, not skipped."""
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    seconds = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results
               if r["unique_id"].startswith("model.") and r["unique_id"].split(".")[-1] in set(names)}
    parts = [f"{name} {seconds[name]:.1f}s" if name in seconds else f"{name} not run" for name in names]
    return f"{sum(seconds.values()):.1f}s\n        " + "\n        ".join(parts)


def verdict(seconds: list[float], target: float = TARGET_INCREMENTAL_SECONDS) -> str:
    """The PASS/MISS line of the incremental daily builds against their target: PASS only if every one is under."""
    word = "PASS" if seconds and max(seconds) < target else "MISS"
    each = " / ".join(f"{value:.1f}" for value in seconds)
    return f"{word}  incremental daily build {each} s (worst {max(seconds, default=0):.1f} s), target under {target:.0f}s"


def host_reference() -> str:
    """The host's speed at this moment, as the seconds two fixed pieces of work take (median of three): a DuckDB
    query on 2 threads and a Python loop. This machine is shared: the same build varies by 25-40% within hours, and
    these figures, printed beside each build, tell a slower host from slower code."""
    def duckdb_seconds() -> float:
        with duckdb.connect() as connection:
            connection.execute("set threads = 2")
            started = time.perf_counter()
            connection.execute("select count(distinct i % 1000003), sum(hash(i)) from range(30000000) t(i)").fetchall()
            return time.perf_counter() - started

    def python_seconds() -> float:
        started, total = time.perf_counter(), 0
        for number in range(3_000_000):
            total += number % 7
        return time.perf_counter() - started

    duck = sorted(duckdb_seconds() for _ in range(3))[1]
    python = sorted(python_seconds() for _ in range(3))[1]
    return f"reference DuckDB {duck:.2f}s, Python {python:.2f}s"


def _load_job(leads: int, now: int, warehouse: Path, since: int | None) -> dict[str, int]:
    """`load` in a worker process: the account is regenerated there (deterministic for the same seed,
    size and `now`), so this process stays small and the dbt processes' peak memory is their own."""
    from pipelines.simulator import SimulatedAccount

    account = SimulatedAccount.generate(seed=SEED, leads=leads, now=now)
    return load(account, warehouse, now if since is None else since + DAY, since)


def _in_worker(*args: Any) -> dict[str, int]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_load_job, *args).result()


def run(leads: int, work_dir: Path) -> None:
    data_dir = work_dir / f"leads_{leads}"
    data_dir.mkdir(parents=True)
    warehouse = data_dir / "warehouse.duckdb"
    now = int(time.time()) // 3600 * 3600
    started = time.monotonic()
    counts = _in_worker(leads, now, warehouse, None)
    with duckdb.connect(str(warehouse)) as connection:  # the user inputs, empty: not what is measured
        connection.execute("create schema raw_inputs")
        connection.execute("create table raw_inputs.marketing_spend (month date, channel varchar, "
                           "amount decimal(18, 2), source_line integer)")
        connection.execute("create table raw_inputs.sales_targets (month date, manager varchar, "
                           "target_revenue decimal(18, 2), target_deals integer, source_line integer)")
    size = warehouse.stat().st_size / 2**20
    print(f"{leads:,} leads: raw layer of {sum(counts.values()):,} rows ({size:,.0f} MiB) built in "
          f"{time.monotonic() - started:,.0f}s; leads {counts['leads']:,}, events {counts['events']:,}, "
          f"notes {counts['notes']:,}, tasks {counts['tasks']:,}", flush=True)

    build = dbt_build(data_dir)
    print(f"{leads:,} leads: dbt build (full)          {build.line()}", flush=True)
    print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)
    builds = []
    for day in range(INCREMENTAL_DAYS):
        since = now + day * DAY
        changed = _in_worker(leads, now, warehouse, since)
        print(f"{leads:,} leads: day {day + 1} of changes: {sum(changed.values()):,} rows "
              f"(events {changed['events']:,}, notes {changed['notes']:,}, tasks {changed['tasks']:,}, "
              f"leads {changed['leads']:,}); host {host_reference()}", flush=True)
        builds.append(dbt_build(data_dir))
        print(f"{leads:,} leads: dbt build (incremental)   {builds[-1].line()}", flush=True)
        print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)
    print(f"{leads:,} leads: {verdict([build.seconds for build in builds])}", flush=True)
    build = dbt_build(data_dir, "--full-refresh")
    print(f"{leads:,} leads: dbt build --full-refresh  {build.line()}", flush=True)
    print(f"    of which the issue-15 models {models_seconds(data_dir)}", flush=True)


def main(sizes: Iterable[int] = SIZES) -> None:
    work_dir = Path(tempfile.mkdtemp(prefix="amocrm-kpi-bench-"))
    try:
        for leads in sizes:
            run(leads, work_dir)
            shutil.rmtree(work_dir / f"leads_{leads}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or SIZES)
