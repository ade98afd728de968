"""dbt as the daily build starts it (pipelines/dbt_launcher.py, through pipelines/defs/dbt_in_data_dir.sh) ends
the way the plain `dbt` does: the warehouse closed (no .wal: a process that ends without closing DuckDB leaves
one), dbt's exit code, its JSON lines on stdout for dagster-dbt, a failure's message; dbt.log in plain lines.

Two dbt runs of one staging model each (about 8 CPU s), on a copy of the shared warehouse and on an empty folder.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.dbt_daily_build import BUILD_ARGS, LOG_ENV
from pipelines.defs.transform import DBT_IN_DATA_DIR
from pipelines.paths import DBT_PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

MODEL = "stg_amocrm__account"
DBT = Path(sys.executable).with_name("dbt")


def _dbt(command: list[str], data_dir: Path, parsed: Path, tz: str, *extra: str) -> tuple[int, list[dict], str]:
    """Run `command + BUILD_ARGS --select MODEL` (+ `extra` arguments) in `data_dir` as Dagster does: exit code, JSON
    events, dbt.log."""
    target = data_dir / "dbt_target"
    target.mkdir(parents=True)
    shutil.copy(parsed, target)  # the shared warehouse's parse: no full parse here
    env = {**os.environ, **LOG_ENV, "AMOCRM_KPI_DATA_DIR": str(data_dir), "TZ": tz}
    if command[0] == str(DBT):  # the plain dbt, started the way dbt_in_data_dir.sh starts dbt
        env["AMOCRM_KPI_DATA_DIR"] = "."
    result = subprocess.run([*command, *BUILD_ARGS, *extra, "--select", MODEL, "--project-dir", str(DBT_PROJECT_DIR),
                             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                             "--log-path", str(data_dir / "dbt_logs")],
                            cwd=data_dir, env=env, capture_output=True, text=True, timeout=300)
    assert all(line.startswith("{") for line in result.stdout.splitlines()), result.stdout[-3000:]
    assert not result.stderr, result.stderr[-3000:]  # e.g. no "leaked semaphore objects" of an exit that skipped them
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, events, (data_dir / "dbt_logs" / "dbt.log").read_text(encoding="utf-8")


def test_the_launcher_closes_the_warehouse_and_keeps_dbts_output_and_exit_code(kpi_warehouse, tmp_path):
    parsed = kpi_warehouse.data_dir / "dbt_target" / "partial_parse.msgpack"
    tz = kpi_warehouse.dbt_session_timezone
    data_dir = tmp_path / "built"
    data_dir.mkdir()
    shutil.copy(kpi_warehouse.path, data_dir / "warehouse.duckdb")

    code, events, log = _dbt([str(DBT_IN_DATA_DIR)], data_dir, parsed, tz)
    assert code == 0, [e["info"]["msg"] for e in events][-20:]
    assert not (data_dir / "warehouse.duckdb.wal").exists()  # DuckDB closed: its checkpoint was written
    results = [e["data"] for e in events if e["info"]["name"] == "LogModelResult"]
    assert [(r["node_info"]["node_name"], r["node_info"]["node_status"]) for r in results] == [(MODEL, "success")]
    assert {e["info"]["level"] for e in events} <= {"info", "warn", "error"}  # the dropped debug lines stay dropped
    assert not any(line.startswith("{") for line in log.splitlines())  # dbt.log: dbt's plain lines
    assert f"OK created sql view model staging.{MODEL}" in log  # at info: the node's result, not its statements
    assert " [debug] " not in log and "create or replace view" not in log
    shutil.rmtree(data_dir / "dbt_logs")
    shutil.rmtree(data_dir / "dbt_target")
    code, debug_events, log = _dbt([str(DBT_IN_DATA_DIR)], data_dir, parsed, tz, "--log-level-file", "debug")
    assert code == 0 and len(debug_events) == len(events)  # stdout is the same at either file level
    assert " [debug] " in log and "create or replace view" in log  # asked for: every statement dbt ran

    # A failing build (no raw tables in an empty folder) fails the same way through the launcher as with plain dbt.
    failed = {}
    for name, command in (("launcher", [str(DBT_IN_DATA_DIR)]), ("dbt", [str(DBT)])):
        code, events, log = _dbt(command, tmp_path / name, parsed, tz)
        errors = [e["info"]["msg"] for e in events if e["info"]["level"] == "error"]
        failed[name] = code, [re.sub(r"in \d+\.\d+s", "in Ns", " ".join(m.split())) for m in errors]
        assert code != 0 and errors and errors[-1] in log
    assert failed["launcher"] == failed["dbt"], failed


def test_the_dbt_internals_the_launcher_relies_on_still_exist():
    """An upgrade that renames them fails here by name, not as an AttributeError in the daily build."""
    import importlib

    from pipelines.dbt_launcher import PATCHED

    for name in PATCHED:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
            try:
                found = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for part in parts[cut:]:
            assert hasattr(found, part), f"{name} is gone: see pipelines/dbt_launcher.py"
            found = getattr(found, part)


def test_an_event_no_logger_writes_is_not_built(monkeypatch):
    """The launcher's skip, in this process: a debug event with every logger at info is dropped before dbt builds its
    message, also with the callback dbt's CLI registers on every run; an info event, a debug event once a logger
    takes debug, and any event while a callback of unknown reads is registered, are built and written as before."""
    from dbt.tracking import track_behavior_change_warn
    from dbt_common.events import event_manager, logger as dbt_logger
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.types import Note

    from pipelines import dbt_launcher

    monkeypatch.setattr(event_manager.EventManager, "fire_event", event_manager.EventManager.fire_event)
    monkeypatch.setattr(dbt_logger._Logger, "write_line", dbt_logger._Logger.write_line)  # restored after the test
    built = []
    build = event_manager.msg_from_base_event
    monkeypatch.setattr(event_manager, "msg_from_base_event", lambda e, level=None: built.append(e) or build(e, level))
    dbt_launcher._skip_unwanted_events()
    lines = []
    manager = event_manager.EventManager()
    for name in ("stdout", "file"):
        manager.add_logger(dbt_logger.LoggerConfig(name=f"launcher_test_{name}", level=EventLevel.INFO,
                                                   output_stream=io.StringIO()))
        manager.loggers[-1].write_line = lambda msg, name=name: lines.append((name, msg.info.msg))
    manager.add_callback(track_behavior_change_warn)  # as dbt.events.logging.setup_event_logger does

    manager.fire_event(Note(msg="a statement"), level=EventLevel.DEBUG)
    assert built == [] and lines == []
    seen = []
    manager.add_callback(lambda msg: seen.append(msg.info.msg))  # a callback that may read anything
    manager.fire_event(Note(msg="a watched statement"), level=EventLevel.DEBUG)
    assert len(built) == 1 and seen == ["a watched statement"]
    manager.callbacks.pop()
    built.clear()
    lines.clear()
    manager.fire_event(Note(msg="a result"), level=EventLevel.INFO)
    assert len(built) == 1 and lines == [("stdout", "a result"), ("file", "a result")]
    manager.loggers[1].level = EventLevel.DEBUG
    manager.loggers[1]._python_logger.setLevel(logging.DEBUG)
    manager.fire_event(Note(msg="another statement"), level=EventLevel.DEBUG)
    assert len(built) == 2 and lines[-1] == ("file", "another statement")


def test_an_event_converts_its_fields_only_when_read(monkeypatch):
    """The launcher's lazy events, in this process: an event nobody reads never converts its fields to protobuf; a
    read converts them once, to the message dbt's own __init__ makes (also for a field that does not convert)."""
    from dbt.adapters.events.types import SQLQuery
    from dbt_common.events import base_types
    from dbt_common.events.base_types import BaseEvent
    from dbt_common.events.types import Note

    from pipelines import dbt_launcher

    fields = {"conn_name": "model.x", "sql": "select 1", "node_info": {"node_name": "x", "unique_id": "model.p.x"}}
    expected = SQLQuery(**fields).to_dict()
    monkeypatch.setattr(BaseEvent, "__init__", BaseEvent.__init__)  # both restored after the test
    monkeypatch.setattr(BaseEvent, "pb_msg", None, raising=False)
    monkeypatch.delattr(BaseEvent, "pb_msg")
    dbt_launcher._build_event_fields_when_read()
    converted = []
    convert = base_types.ParseDict
    monkeypatch.setattr(base_types, "ParseDict", lambda *args: converted.append(args) or convert(*args))

    SQLQuery(**fields)
    assert converted == [], "an event nobody reads converted its fields"
    read = SQLQuery(**fields)
    assert read.sql == "select 1" and read.node_info.node_name == "x" and len(converted) == 1
    assert read.to_dict() == expected and "_fields" not in read.__dict__
    read.sql = "select 2"  # a field set after the fact reaches the message, as with dbt's own events
    assert read.to_dict()["sql"] == "select 2"
    assert Note(msg=7).msg == "7"  # dbt's __init__ ran: msg made a string


def test_dbts_imported_modules_are_left_out_of_garbage_collection_and_later_objects_are_not():
    """In a fresh process (gc.freeze is process-wide): once dbt's command line is imported, what the process holds is
    frozen (full collections no longer walk dbt's classes and functions), and a cycle made afterwards is still freed."""
    script = """
import gc, sys
from pipelines import dbt_launcher
assert gc.get_freeze_count() == 0
cli = dbt_launcher._import_dbt_cli()
frozen = gc.get_freeze_count()
assert cli.name == "cli" and "dbt.cli.main" in sys.modules
assert frozen > 100_000, frozen  # dbt's modules: about 130,000 objects (dbt 1.11)
cycle = []; cycle.append(cycle); del cycle
assert gc.collect() >= 1 and gc.get_freeze_count() == frozen
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_dbts_serializers_are_compiled_on_first_use_and_then_serialize_as_compiled_at_import():
    """In fresh processes (the setting holds for classes defined after it): under the launcher dbt's serializable
    dataclasses are imported with their serializers not compiled (without it, dozens are); the first call compiles
    them, and they give what the serializers compiled at import give."""
    script = """
import sys
from pipelines import dbt_launcher
if sys.argv[1] == "lazy":
    dbt_launcher._compile_serializers_on_first_use()
dbt_launcher._import_dbt_cli()
from mashumaro.mixins.dict import DataClassDictMixin
from dbt.artifacts.resources import Quoting

def compiled(cls):
    return "CodeBuilder" not in cls.__mashumaro_from_dict__.__code__.co_names

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

at_import = sum(map(compiled, set(subclasses(DataClassDictMixin))))
quoting = Quoting.from_dict({"database": True, "identifier": False})
print(at_import, compiled(Quoting), quoting.to_dict())
"""

    def run(mode: str) -> str:
        result = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.strip()

    lazy, eager = run("lazy").split(" ", 1), run("eager").split(" ", 1)
    # dbt 1.11: under the launcher only the one called while importing (VersionSpecifier); without it 45
    assert int(lazy[0]) <= 1 and int(eager[0]) >= 40, (lazy, eager)
    assert lazy[1] == eager[1] and lazy[1].startswith("True {'database': True,") and "'identifier': False" in lazy[1]
