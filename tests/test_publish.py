"""The serving copy: complete, atomic, and never blocked by (or blocking) a reader."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


PROJECT_ROOT = Path(__file__).resolve().parents[1]

READER = """
import json, sys, time
from pathlib import Path
import duckdb

target, stop, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

def read(con):
    return con.execute("select (select count(*) from marts.fct_a), (select max(version) from marts.fct_b)").fetchone()

# "held": one connection open through every publish, like a BI tool; it keeps the copy it opened.
# "fresh": a new connection per read (one process shares one database per path, so not both in one process).
held = duckdb.connect(target, read_only=True) if mode == "held" else None
print("ready", flush=True)
seen, problems = set(), []
while not stop.exists():
    try:
        if held is not None:
            rows, version = read(held)
        else:
            with duckdb.connect(target, read_only=True) as con:
                rows, version = read(con)
        if rows != version:
            problems.append(f"{mode}: {rows} rows with version {version}")
        seen.add(version)
    except Exception as exc:
        problems.append(f"{mode}: {type(exc).__name__}: {exc}")
print(json.dumps({"seen": sorted(seen), "problems": problems[:5]}), flush=True)
"""


def _versioned_warehouse(path, version):
    """Two marts that must agree: fct_a has `version` rows, fct_b says `version`."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.fct_a as select range as id from range(?)", [version])
        con.execute("create or replace table marts.fct_b as select ? as version", [version])


def test_a_reader_process_sees_the_old_or_the_new_copy_never_an_error_or_a_mix(tmp_path):
    warehouse, target, stop = tmp_path / "w.duckdb", tmp_path / "serving" / "s.duckdb", tmp_path / "stop"
    _versioned_warehouse(warehouse, 1000)
    publish_marts(warehouse, target)
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(target), str(stop), mode],
                                      stdout=subprocess.PIPE, text=True) for mode in ("held", "fresh")}
    try:
        assert all(reader.stdout.readline().strip() == "ready" for reader in readers.values())
        versions = [1000 + 500 * i for i in range(1, 7)]
        for version in versions:
            _versioned_warehouse(warehouse, version)
            publish_marts(warehouse, target)
            time.sleep(0.3)
        stop.touch()
        held, fresh = (json.loads(readers[mode].communicate(timeout=60)[0]) for mode in ("held", "fresh"))
    finally:
        for reader in readers.values():
            reader.kill()
    assert held == {"seen": [1000], "problems": []}  # the copy it opened, whole, through six publishes
    assert fresh["problems"] == []
    assert set(fresh["seen"]) <= {1000, *versions} and len(fresh["seen"]) >= 3  # whole copies, old and new


def test_a_publish_killed_midway_leaves_no_temp_files_after_the_next(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "serving" / "s.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # big enough that copying it takes a while
        con.execute("create schema marts")
        for i in range(8):
            con.execute(f"create table marts.fct_{i} as select range as id, md5(range::varchar) as h from range(400000)")
    publisher = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from pipelines.publish import publish_marts; "
                               "publish_marts(Path(sys.argv[1]), Path(sys.argv[2]))", str(warehouse), str(target)],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    temp = target.parent / f".{target.name}.{publisher.pid}.tmp"
    deadline = time.monotonic() + 60
    while not temp.exists() and publisher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    publisher.send_signal(signal.SIGKILL)
    publisher.wait()
    assert temp.exists() and not target.exists()  # killed midway: its temp copy is left, nothing published

    published = publish_marts(warehouse, target)
    assert len(published.tables) == 8
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_temp_files_of_a_live_writer_are_left_alone(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "serving" / "s.duckdb"
    _warehouse(warehouse, 2)
    target.parent.mkdir()
    with subprocess.Popen(["sleep", "60"]) as live:
        busy = target.parent / f".{target.name}.{live.pid}.tmp"
        busy.write_text("being written")
        publish_marts(warehouse, target)
        assert busy.exists()
        live.kill()


def _accounts_warehouse(path, version: str, accounts=(1, 2), added_column: bool = False):
    """Two marts keyed by account: 3 rows per account in fct_a, one in dim_b; `version` marks the build."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        added = ", 'new' as added" if added_column else ""
        con.execute(f"create or replace table marts.fct_a as select a.account_id, range as id, ? as version{added} "
                    "from (select unnest(?) as account_id) as a, range(3)", [version, list(accounts)])
        con.execute("create or replace table marts.dim_b as select unnest(?) as account_id, ? as version",
                    [list(accounts), version])


def _rows(target, table):
    with duckdb.connect(str(target), read_only=True) as con:
        return con.execute(f"select * from marts.{table} order by all").fetchall()


def test_a_held_back_account_keeps_its_previous_rows_in_every_table(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "s.duckdb"
    _accounts_warehouse(warehouse, "day1")
    publish_marts(warehouse, target)
    _accounts_warehouse(warehouse, "day2", added_column=True)  # the new build has a column the old copy lacks
    published = publish_marts(warehouse, target, held_back=[1])
    assert published.held_back == {1: {"dim_b": 1, "fct_a": 3}} and published.without_previous_rows() == []
    assert published.tables == {"dim_b": 2, "fct_a": 6}
    assert _rows(target, "fct_a") == [(1, i, "day1", None) for i in range(3)] + [(2, i, "day2", "new") for i in range(3)]
    assert _rows(target, "dim_b") == [(1, "day1"), (2, "day2")]

    _accounts_warehouse(warehouse, "day3", added_column=True)  # held back again: still the rows of day 1
    publish_marts(warehouse, target, held_back=[1])
    assert _rows(target, "dim_b") == [(1, "day1"), (2, "day3")]
    publish_marts(warehouse, target)  # released: fresh again
    assert _rows(target, "dim_b") == [(1, "day3"), (2, "day3")]


def test_a_held_back_account_without_previous_rows_is_not_published(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "s.duckdb"
    _accounts_warehouse(warehouse, "day1")
    published = publish_marts(warehouse, target, held_back=[1])  # the first publish: no previous copy
    assert published.held_back == {1: {}} and published.without_previous_rows() == [1]
    assert _rows(target, "dim_b") == [(2, "day1")]
    _accounts_warehouse(warehouse, "day2", accounts=(1, 2, 3))  # account 3 is new: nothing of it published before
    published = publish_marts(warehouse, target, held_back=[3])
    assert published.without_previous_rows() == [3]
    assert _rows(target, "dim_b") == [(1, "day2"), (2, "day2")]


def test_a_mart_without_account_id_cannot_hold_an_account_back_and_keeps_the_copy(tmp_path):
    warehouse, target = tmp_path / "w.duckdb", tmp_path / "s.duckdb"
    _accounts_warehouse(warehouse, "day1")
    publish_marts(warehouse, target)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table marts.fct_c as select 1 as id")
    with pytest.raises(RuntimeError, match=r"marts.fct_c has no account_id column.*previous copy stays published"):
        publish_marts(warehouse, target, held_back=[1])
    assert _rows(target, "dim_b") == [(1, "day1"), (2, "day1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb", "w.duckdb"]
