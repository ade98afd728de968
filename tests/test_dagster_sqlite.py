"""tests/dagster_sqlite.py (cheaper in-process SQLite Dagster instances) is active and loses no event."""

from __future__ import annotations

import os
import sqlite3

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="one")])
def one():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="positive", passed=True)


@pytest.mark.skipif(bool(os.environ.get("TESTS_DAGSTER_SQLITE_AS_SHIPPED")), reason="Dagster left as shipped")
def test_events_are_stored_through_one_engine_per_shard_and_read_back_by_another_instance():
    assert getattr(SqliteEventLogStorage._connect, "reuses_engines", False)  # conftest installed it
    job = dg.Definitions(assets=[one]).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(instance=instance)
        second = job.execute_in_process(instance=instance)
        engines = instance.event_log_storage.__dict__["_tests_engines_by_shard"]
        assert {first.run_id, second.run_id} <= set(engines)  # a shard per run, each one engine
        with dg.DagsterInstance.from_ref(instance.get_ref()) as reopened:  # what the files hold
            for run in (first, second):
                stored = reopened.all_logs(run.run_id)
                assert [e.dagster_event_type for e in stored if e.is_dagster_event][-1] == dg.DagsterEventType.RUN_SUCCESS
            checks = reopened.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey("one"), "positive")])
            assert checks[dg.AssetCheckKey(dg.AssetKey("one"), "positive")].run_id == second.run_id
        shard = instance.event_log_storage.path_for_shard(first.run_id)
        with sqlite3.connect(shard) as raw:  # a new connection: the pragma is per connection, 0 = off
            assert raw.execute("pragma synchronous").fetchone()[0] == 2  # plain sqlite3 is untouched
        with engines[first.run_id].connect() as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 0
