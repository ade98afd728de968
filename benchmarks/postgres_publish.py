"""Publishing the marts to PostgreSQL: load (dlt into the staging schema) and swap time for a big account.

The serving copy is made up, not built by dbt (the dbt_build benchmark measures that part): every mart
of the dbt manifest with its real columns and types, `fct_leads` with one row per lead and each other
mart with a tenth of that, filled with generated values. It is published twice into a scratch schema
of the PostgreSQL server in AMOCRM_KPI_TEST_POSTGRES_URL (`eval "$(scripts/test-postgres)"` starts the
local one): the first publish creates the schema, the second replaces a published version, as every
daily run does. Prints rows, wall time and rows per second.

    .venv/bin/python -m benchmarks postgres_publish              # 100,000 leads
    .venv/bin/python -m benchmarks.postgres_publish 1000000      # other sizes, e.g. a 1,000,000-lead account
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql

from pipelines.postgres.model_docs import manifest_path, table_docs
from pipelines.postgres.publish import publish_to_postgres
from pipelines.postgres.settings import PublishSettings

DEFAULT_LEADS = 100_000
# a value for each dbt data_type of the marts, from the row number `range`
VALUES = {
    "bigint": "range", "integer": "(range % 1000)::integer", "boolean": "range % 3 = 0",
    "date": "date '2024-01-01' + (range % 900)::integer", "double": "(range % 977) / 7.0",
    "decimal(18,2)": "((range % 100000) * 1.37)::decimal(18, 2)", "varchar": "'value ' || (range % 5000)",
    "timestamp with time zone": "to_timestamp(1704067200 + range % 80000000)",
}


UNIQUE = {"bigint": "range", "integer": "range::integer", "varchar": "'value ' || range"}


def make_serving(path: Path, leads: int) -> dict[str, int]:
    models, docs = _manifest_models(), table_docs()
    rows = {}
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for name, columns in models.items():
            rows[name] = leads if name == "fct_leads" else max(leads // 10, 1)
            types = dict(columns)
            # one grain column numbers the rows, so the primary key holds as in real marts
            unique = next((c for c in reversed(docs[name].key) if types[c] in UNIQUE), None)
            select = ", ".join(f'({UNIQUE[data_type] if column == unique else VALUES[data_type]})::{data_type} '
                               f'as "{column}"' for column, data_type in columns)
            con.execute(f'create table marts."{name}" as select {select} from range({rows[name]})')
    return rows


def _manifest_models() -> dict[str, list[tuple[str, str]]]:
    import json

    nodes = json.loads(manifest_path().read_text(encoding="utf-8"))["nodes"]
    return {node["name"]: [(c, col["data_type"].lower()) for c, col in node["columns"].items()]
            for node in nodes.values() if node["resource_type"] == "model" and node["schema"] == "marts"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    leads = int(argv[0]) if argv else DEFAULT_LEADS
    url = os.environ.get("AMOCRM_KPI_TEST_POSTGRES_URL")
    if not url:
        print("skipped: set AMOCRM_KPI_TEST_POSTGRES_URL (eval \"$(scripts/test-postgres)\" starts the local server)")
        return
    if not manifest_path().exists():
        import pipelines.defs.transform  # noqa: F401 - writes the dbt manifest when it is missing

    suffix = uuid.uuid4().hex[:8]
    settings = PublishSettings(url=url, schema=f"bench_marts_{suffix}", reader=f"bench_reader_{suffix}",
                               lock_wait_seconds=60)
    with tempfile.TemporaryDirectory(prefix="amocrm-kpi-bench-") as folder:
        serving = Path(folder) / "serving.duckdb"
        started = time.monotonic()
        rows = make_serving(serving, leads)
        total = sum(rows.values())
        print(f"{leads:,} leads: {len(rows)} marts, {total:,} rows (fct_leads {rows['fct_leads']:,}), "
              f"made up in {time.monotonic() - started:.1f} s", flush=True)
        try:
            for attempt in ("first publish (new schema)", "daily publish (replaces the version)"):
                started = time.monotonic()
                published = publish_to_postgres(settings, serving)
                wall = time.monotonic() - started
                print(f"  {attempt}: {wall:.1f} s (load {published.load_seconds:.1f} s, swap "
                      f"{published.swap_seconds:.3f} s), {total / wall:,.0f} rows/s", flush=True)
        finally:
            _drop(url, settings)


def _drop(url: str, settings: PublishSettings) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for schema in (settings.schema, settings.staging_schema):
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(settings.reader)))
    conn.close()


if __name__ == "__main__":
    main()
