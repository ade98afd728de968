"""The serving copy: complete, atomic, and never blocked by (or blocking) a reader."""

import duckdb
import pytest

from pipelines.publish import publish_marts


def _warehouse(path, rows):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create schema if not exists staging")
        con.execute("create or replace table marts.fct_a as select range as id from range(?)", [rows])
        con.execute("create or replace table staging.stg_b as select 1 as x")


def test_copies_every_mart_and_only_marts(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "serving" / "s.duckdb"
    _warehouse(warehouse, 5)
    published = publish_marts(warehouse, target)
    assert published.tables == {"fct_a": 5}
    with duckdb.connect(str(target), read_only=True) as con:
        schemas = {r[0] for r in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
        assert schemas == {"marts"}
        assert con.execute("select count(*) from marts.fct_a").fetchone()[0] == 5
    assert list(target.parent.iterdir()) == [target]  # no temporary files left behind


def test_reader_holding_the_copy_open_neither_blocks_nor_sees_half_data(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "s.duckdb"
    _warehouse(warehouse, 3)
    publish_marts(warehouse, target)
    reader = duckdb.connect(str(target), read_only=True)
    _warehouse(warehouse, 7)
    publish_marts(warehouse, target)  # must not fail on the reader's lock
    assert reader.execute("select count(*) from marts.fct_a").fetchone()[0] == 3  # the reader's snapshot is whole
    reader.close()
    with duckdb.connect(str(target), read_only=True) as fresh:
        assert fresh.execute("select count(*) from marts.fct_a").fetchone()[0] == 7


def test_failure_keeps_the_last_good_copy(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "s.duckdb"
    _warehouse(warehouse, 4)
    publish_marts(warehouse, target)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table marts.fct_a")
    with pytest.raises(RuntimeError, match="no tables in schema 'marts'"):
        publish_marts(warehouse, target)
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_a").fetchone()[0] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb", "w.duckdb"]
