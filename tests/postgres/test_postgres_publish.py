"""Publishing a serving copy to PostgreSQL: exact types, keys, comments, grants, and atomic for readers.

A small serving copy and dbt manifest of their own make each case quick; the whole job against the
real marts is in test_postgres_job.py.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from decimal import Decimal

import duckdb
import psycopg2
import pytest

from pipelines.postgres.publish import PostgresPublishError, publish_to_postgres

pytestmark = pytest.mark.xdist_group("postgres")


def _serving(path, version: int, extra_column: bool = False):
    """marts.fct_a has `version` rows and marts.fct_b says `version`: a reader seeing both from one
    version finds them agreeing."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(f"""create table marts.fct_a as select
                          range::bigint as id, (range * 1.25)::decimal(18, 2) as amount,
                          date '2026-01-01' + range::int as day, case when range % 2 = 0 then '' end as note,
                          range % 3 = 0 as flag {', 7 as added' if extra_column else ''}
                        from range({version})""")
        con.execute("create table marts.fct_b as select ? as version, null::bigint as manager_id", [version])
        con.execute("create table marts.fct_empty as select 1::bigint as id where false")
        con.execute("create table marts.meta_source as select 'acme' as subdomain")


def _manifest(path):
    def model(name, description, columns):
        return {"resource_type": "model", "schema": "marts", "name": name, "alias": name, "description": description,
                "columns": {c: {"description": f"{c} of {name}", "constraints": [{"type": "not_null"}] if nn else []}
                            for c, nn in columns}}

    def test(model_name, kind, **kwargs):
        return {"resource_type": "test", "attached_node": f"model.p.{model_name}",
                "test_metadata": {"name": kind, "kwargs": kwargs}}

    nodes = {
        "model.p.fct_a": model("fct_a", "Rows of A.", [("id", True), ("amount", False), ("day", False)]),
        "model.p.fct_b": model("fct_b", "The version.", [("version", True), ("manager_id", False)]),
        "model.p.staged": {**model("staged", "not published", []), "schema": "staging"},
        "test.p.a": test("fct_a", "unique", column_name="id"),
        "test.p.b": test("fct_b", "unique_combination_of_columns", combination_of_columns=["version", "manager_id"]),
    }
    path.write_text(json.dumps({"nodes": nodes}))
    return path


@pytest.fixture
def files(tmp_path):
    serving, manifest = tmp_path / "serving.duckdb", _manifest(tmp_path / "manifest.json")
    _serving(serving, 5)
    return serving, manifest


def _query(url, statement, params=None):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def test_tables_arrive_with_exact_types_keys_and_comments(publish_target, files, postgres_url):
    serving, manifest = files
    published = publish_to_postgres(publish_target, serving, manifest)
    assert published.tables == {"fct_a": 5, "fct_b": 1, "fct_empty": 0, "meta_source": 1}
    schema = publish_target.schema
    assert _query(postgres_url, f"select id, amount, day, note, flag from {schema}.fct_a order by id") == [
        (i, Decimal(i) * Decimal("1.25"), date(2026, 1, 1 + i), "" if i % 2 == 0 else None, i % 3 == 0)
        for i in range(5)]
    types = dict(_query(postgres_url, "select table_name || '.' || column_name, "
                        "format_type(atttypid, atttypmod) from information_schema.columns c "
                        "join pg_attribute a on a.attrelid = "
                        "(quote_ident(table_schema) || '.' || quote_ident(table_name))::regclass "
                        "and a.attname = c.column_name where table_schema = %s", [schema]))
    assert types == {"fct_a.id": "bigint", "fct_a.amount": "numeric(18,2)", "fct_a.day": "date",
                     "fct_a.note": "character varying", "fct_a.flag": "boolean", "fct_b.version": "integer",
                     "fct_b.manager_id": "bigint", "fct_empty.id": "bigint",
                     "meta_source.subdomain": "character varying"}
    keys = dict(_query(postgres_url, "select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint "
                       "where connamespace = %s::regnamespace", [schema]))
    assert keys == {f"{schema}.fct_a": "PRIMARY KEY (id)",
                    f"{schema}.fct_b": "UNIQUE NULLS NOT DISTINCT (version, manager_id)"}  # manager_id may be null
    comments = dict(_query(postgres_url, "select c.relname || coalesce('.' || a.attname, ''), d.description "
                           "from pg_description d join pg_class c on c.oid = d.objoid left join pg_attribute a "
                           "on a.attrelid = c.oid and a.attnum = d.objsubid and d.objsubid > 0 "
                           "where c.relnamespace = %s::regnamespace", [schema]))
    assert comments["fct_a"] == "Rows of A." and comments["fct_a.amount"] == "amount of fct_a"
    assert comments["fct_b.manager_id"] == "manager_id of fct_b"
    assert comments["meta_source"].startswith("Which amoCRM account")
    # only the published schema is left: no staging schema, no dlt bookkeeping tables in it
    assert _query(postgres_url, "select nspname from pg_namespace where nspname like %s", [schema + "%"]) == [(schema,)]


def test_read_only_role_can_select_and_cannot_write(publish_target, files, login_as):
    serving, manifest = files
    publish_to_postgres(publish_target, serving, manifest)
    reader_url, schema = login_as(publish_target.reader), publish_target.schema
    assert _query(reader_url, f"select count(*) from {schema}.fct_a") == [(5,)]
    for statement in (f"insert into {schema}.fct_a (id) values (99)", f"delete from {schema}.fct_b",
                      f"create table {schema}.mine (x int)", f"drop table {schema}.fct_a",
                      f"select count(*) from {publish_target.staging_schema}.fct_a"):
        with pytest.raises(psycopg2.Error) as caught:
            _query(reader_url, statement)
        assert caught.value.pgcode in ("42501", "3F000", "42P01"), statement  # denied / no such schema
    assert _query(reader_url, f"select count(*) from {schema}.fct_a") == [(5,)]


def test_a_reader_transaction_sees_one_version_and_the_swap_waits_for_it(publish_target, files, login_as, tmp_path):
    serving, manifest = files
    publish_to_postgres(publish_target, serving, manifest)
    schema = publish_target.schema
    reader = psycopg2.connect(login_as(publish_target.reader), application_name="dashboard")
    try:
        cur = reader.cursor()  # a READ COMMITTED transaction, as BI tools open them
        cur.execute(f"select count(*) from {schema}.fct_a")
        assert cur.fetchone() == (5,)
        _serving(serving, 9)
        publishing = threading.Thread(target=publish_to_postgres, args=(publish_target, serving, manifest),
                                      daemon=True)
        publishing.start()
        time.sleep(3)  # the load is done by now; the swap waits for the reader
        assert publishing.is_alive()
        cur.execute(f"select version from {schema}.fct_b")
        assert cur.fetchone() == (5,)  # the same version as the first query, though the new one is loaded
        cur.execute(f"select count(*) from {schema}.fct_a")
        assert cur.fetchone() == (5,)
        reader.commit()  # the reader's transaction ends: now the swap may go
        publishing.join(timeout=60)
        assert not publishing.is_alive()
        cur.execute(f"select (select count(*) from {schema}.fct_a), (select version from {schema}.fct_b)")
        assert cur.fetchone() == (9, 9)
    finally:
        reader.close()


def test_readers_querying_all_along_see_whole_versions_never_an_error(publish_target, files, login_as):
    serving, manifest = files
    publish_to_postgres(publish_target, serving, manifest)
    schema, url = publish_target.schema, login_as(publish_target.reader)
    stop, seen, problems = threading.Event(), set(), []

    def read():
        conn = psycopg2.connect(url)
        conn.autocommit = True  # each query on its own, the common BI way
        while not stop.is_set():
            try:
                with conn.cursor() as cur:
                    cur.execute(f"select (select count(*) from {schema}.fct_a), (select version from {schema}.fct_b)")
                    rows, version = cur.fetchone()
                if rows != version:
                    problems.append(f"{rows} rows with version {version}")
                seen.add(version)
            except psycopg2.Error as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
        conn.close()

    readers = [threading.Thread(target=read, daemon=True) for _ in range(2)]
    for thread in readers:
        thread.start()
    for version in (20, 35, 50):
        _serving(serving, version)
        publish_to_postgres(publish_target, serving, manifest)
    time.sleep(0.3)
    stop.set()
    for thread in readers:
        thread.join(timeout=30)
    assert problems == []
    assert 50 in seen and seen <= {5, 20, 35, 50}


def test_a_publish_that_cannot_finish_leaves_the_previous_version_and_says_why(publish_target, files, login_as,
                                                                             postgres_url):
    serving, manifest = files
    publish_to_postgres(publish_target, serving, manifest)
    schema = publish_target.schema
    reader = psycopg2.connect(login_as(publish_target.reader), application_name="stuck dashboard")
    try:
        reader.cursor().execute(f"select * from {schema}.fct_b")  # and never ends its transaction
        _serving(serving, 12)
        impatient = type(publish_target)(**{**publish_target.__dict__, "lock_wait_seconds": 1.5})
        with pytest.raises(PostgresPublishError) as caught:
            publish_to_postgres(impatient, serving, manifest)
    finally:
        reader.close()
    message = str(caught.value)
    assert "previous version stays published" in message and "stuck dashboard" in message
    assert "amocrm_kpi_test:" not in message and postgres_url not in message
    assert _query(postgres_url, f"select (select count(*) from {schema}.fct_a), (select version from {schema}.fct_b)"
                  ) == [(5, 5)]
    serving.unlink()  # a run that failed before publishing: nothing to publish from
    with pytest.raises(PostgresPublishError, match="does not exist"):
        publish_to_postgres(publish_target, serving, manifest)
    assert _query(postgres_url, f"select count(*) from {schema}.fct_a") == [(5,)]


def test_a_changed_mart_shape_is_published_and_a_removed_table_goes(publish_target, files, postgres_url):
    serving, manifest = files
    publish_to_postgres(publish_target, serving, manifest)
    _serving(serving, 6, extra_column=True)
    with duckdb.connect(str(serving)) as con:
        con.execute("drop table marts.fct_empty")
    publish_to_postgres(publish_target, serving, manifest)
    schema = publish_target.schema
    assert _query(postgres_url, "select tablename from pg_tables where schemaname = %s order by 1", [schema]) == [
        ("fct_a",), ("fct_b",), ("meta_source",)]
    assert _query(postgres_url, f"select sum(added) from {schema}.fct_a") == [(42,)]
