"""Cheaper SQLite Dagster instances for the tests that run jobs in-process on one (`dg.instance_for_test()`,
`DagsterInstance.get()` under a test DAGSTER_HOME): the same storage, tables and queries, less CPU per event.

Why: Dagster's SQLite event log opens a new SQLAlchemy engine for every event it stores (a daily build
stores about a thousand: each dbt model and test, each check) and commits each with an fsync. Measured on
a job storing 60 asset events: 3.0 s of CPU and 17.6 s of wall time a run; with the two changes below
1.9 s and 6.2 s. test_held_back runs nine jobs on such an instance and spent half its samples in SQLAlchemy.

1. `pragma synchronous = off` on every SQLite connection of this process: commits stop waiting for the
   disk. A test never survives a power cut, so nothing it checks depends on it; a run killed with SIGKILL
   still keeps every committed event (the operating system has them). Subprocesses (`dagster job execute`,
   `make demo`) are untouched: the crash tests run the real thing.
2. One engine per shard for the event log, instead of one per event (`SqliteEventLogStorage._connect`
   without the engine's creation and disposal; connections are still opened per use, as with `NullPool`).
   A private Dagster method: if its shape changes with an upgrade, the patch is left out with a warning
   (the tests still pass, slower).

`TESTS_DAGSTER_SQLITE_AS_SHIPPED=1` leaves Dagster as shipped (to measure the difference, or to rule it out).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator

_ENGINES = "_tests_engines_by_shard"
AS_SHIPPED = "TESTS_DAGSTER_SQLITE_AS_SHIPPED"


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("pragma synchronous = off")


def install() -> None:
    """Apply both changes to this process (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _no_fsync):
        event.listen(Engine, "connect", _no_fsync)
    _reuse_event_log_engines()


def _reuse_event_log_engines() -> None:
    from dagster._core.storage.event_log.sqlite import sqlite_event_log as module
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    storage = module.SqliteEventLogStorage
    if getattr(storage._connect, "reuses_engines", False):
        return
    timeout = getattr(module, "SQLITE_BUSY_TIMEOUT_SECONDS", None)
    missing = [name for name in ("conn_string_for_shard", "_initdb", "_connect") if not hasattr(storage, name)]
    if missing or timeout is None:
        warnings.warn("tests/dagster_sqlite.py: Dagster's SqliteEventLogStorage changed shape "
                      f"({missing or 'no SQLITE_BUSY_TIMEOUT_SECONDS'}); its engines are not reused (slower tests)")
        return

    @contextmanager
    def _connect(self: Any, shard: str) -> Iterator[Any]:
        with self._db_lock:
            engines = self.__dict__.setdefault(_ENGINES, {})
            engine = engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                       connect_args={"timeout": timeout})
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    _connect.reuses_engines = True  # type: ignore[attr-defined]
    storage._connect = _connect
