"""Publish the serving copy's marts to PostgreSQL for networked BI tools.

dlt loads every table of the serving copy (DuckDB, schema `marts`) into a staging schema with its
exact types (Arrow carries decimal(18, 2), dates and time zones through); keys, comments and grants
are added there, where no reader looks; then `swap` replaces the published tables in one transaction.
Readers see the previous complete version until that commit and the new complete version after it.
A run that fails before the swap (or whose blocking checks stopped it before this step) leaves the
published version as it was.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dlt
import duckdb
import psycopg2
from psycopg2 import sql

from pipelines import paths
from pipelines.postgres.model_docs import SOURCE_META_DOC, TableDoc, table_docs
from pipelines.postgres.settings import PublishSettings
from pipelines.postgres.swap import ensure_reader, swap_in
from pipelines.redaction import redact

SERVING_SCHEMA = "marts"
BATCH_ROWS = 200_000


@dataclass(frozen=True)
class PostgresPublication:
    schema: str
    tables: dict[str, int]  # table -> rows
    load_seconds: float
    swap_seconds: float


class PostgresPublishError(RuntimeError):
    """Publishing failed; the message has no secrets and says the previous version is still served."""


def publish_to_postgres(settings: PublishSettings, serving: Path | None = None,
                        manifest: Path | None = None) -> PostgresPublication:
    """Load the serving copy into `settings.staging_schema`, then swap it in as `settings.schema`."""
    serving = serving or paths.serving_path()
    try:
        return _publish(settings, serving, manifest)
    except PostgresPublishError:
        raise
    except Exception as exc:  # psycopg2 / dlt errors may quote connection details: scrub them
        raise PostgresPublishError(
            f"publishing the marts to PostgreSQL schema {settings.schema!r} failed, the previously published "
            f"version is still served: {redact(f'{type(exc).__name__}: {exc}')}") from None


def _publish(settings: PublishSettings, serving: Path, manifest: Path | None) -> PostgresPublication:
    names = _serving_tables(serving)
    docs = table_docs(SERVING_SCHEMA, manifest)
    started = time.monotonic()
    with closing(_connect(settings)) as conn:
        ensure_reader(conn, settings.reader)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(settings.staging_schema)))
        conn.commit()
    rows = _load_staging(settings, serving, names)
    with closing(_connect(settings)) as conn:
        with conn.cursor() as cur:
            for name in names:
                _describe(cur, settings.staging_schema, name, docs.get(name) or _fallback_doc(name))
        conn.commit()
        loaded = time.monotonic()
        swap_in(conn, settings, names)
    swapped = time.monotonic()
    return PostgresPublication(schema=settings.schema, tables=rows, load_seconds=round(loaded - started, 3),
                               swap_seconds=round(swapped - loaded, 3))


def _connect(settings: PublishSettings):
    return psycopg2.connect(settings.url, application_name="amocrm-kpi publish", connect_timeout=30)


def _serving_tables(serving: Path) -> list[str]:
    if not serving.exists():
        raise PostgresPublishError(f"the serving copy {serving} does not exist: publish it (asset serving_copy) first")
    with duckdb.connect(str(serving), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' "
            "order by table_name", [SERVING_SCHEMA]).fetchall()]
    if not names:
        raise PostgresPublishError(f"the serving copy {serving} has no tables in schema {SERVING_SCHEMA!r}")
    return names


def _load_staging(settings: PublishSettings, serving: Path, names: list[str]) -> dict[str, int]:
    """dlt into the staging schema: one `replace` resource per table, Arrow batches straight from DuckDB.

    Loaded as csv through COPY (fast), except tables holding empty strings: dlt's COPY turns an empty string
    into NULL (FORCE_NULL), so those go as INSERT statements, which keep the difference."""
    counts: dict[str, int] = {}
    slow = _tables_with_empty_strings(serving, names)
    resources = [dlt.resource(_batches(serving, name, counts), name=name, write_disposition="replace",
                              file_format="insert_values" if name in slow else "csv")
                 for name in names]
    with tempfile.TemporaryDirectory(prefix="amocrm-kpi-pg-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name="amocrm_kpi_publish_postgres",
            pipelines_dir=pipelines_dir,  # no local state: each publish loads everything afresh
            destination=dlt.destinations.postgres(credentials=settings.url),
            dataset_name=settings.staging_schema,
        )
        info = pipeline.run(resources)
        info.raise_on_failed_jobs()
    return counts


def _tables_with_empty_strings(serving: Path, names: list[str]) -> set[str]:
    with duckdb.connect(str(serving), read_only=True) as con:
        columns = con.execute("select table_name, column_name from information_schema.columns where table_schema = ? "
                              "and data_type = 'VARCHAR'", [SERVING_SCHEMA]).fetchall()
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            by_table.setdefault(table, []).append(column)
        return {table for table, cols in by_table.items() if table in names and con.execute(
            f'select exists (select 1 from {SERVING_SCHEMA}."{table}" where '
            + " or ".join(f'"{c}" = \'\'' for c in cols) + ")").fetchone()[0]}


def _batches(serving: Path, name: str, counts: dict[str, int]) -> Iterator:
    """The table's rows as Arrow record batches; a table without rows still yields its (empty) schema,
    so the published table exists with its columns."""
    with duckdb.connect(str(serving), read_only=True) as con:
        reader = con.sql(f'select * from {SERVING_SCHEMA}."{name}"').to_arrow_reader(BATCH_ROWS)
        counts[name] = 0
        for batch in reader:
            counts[name] += batch.num_rows
            yield batch
        if counts[name] == 0:
            yield reader.schema.empty_table()


def _fallback_doc(name: str) -> TableDoc:
    return SOURCE_META_DOC if name == "meta_source" else TableDoc()


def _describe(cur, schema: str, name: str, doc: TableDoc) -> None:
    """Primary key (or, where the grain allows nulls, a unique constraint that treats nulls as equal) and
    comments from the dbt docs, on the staged table."""
    table = sql.Identifier(schema, name)
    if doc.key:
        columns = sql.SQL(", ").join(map(sql.Identifier, doc.key))
        if set(doc.key) <= doc.not_null:
            cur.execute(sql.SQL("alter table {} add primary key ({})").format(table, columns))
        else:
            cur.execute(sql.SQL("alter table {} add constraint {} unique nulls not distinct ({})").format(
                table, sql.Identifier(f"{name}_grain_key"), columns))
    if doc.description:
        cur.execute(sql.SQL("comment on table {} is %s").format(table), [doc.description])
    cur.execute("select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
                [f'"{schema}"."{name}"'])
    for (column,) in cur.fetchall():
        if doc.columns.get(column):
            cur.execute(sql.SQL("comment on column {} is %s").format(sql.Identifier(schema, name, column)),
                        [doc.columns[column]])
