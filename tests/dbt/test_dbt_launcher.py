"""dbt as the daily build starts it (pipelines/dbt_launcher.py, through pipelines/defs/dbt_in_data_dir.sh) ends
the way the plain `dbt` does: the warehouse closed (no .wal: a process that ends without closing DuckDB leaves
one), dbt's exit code, its JSON lines on stdout for dagster-dbt, a failure's message; dbt.log in plain lines.

Two dbt runs of one staging model each (about 8 CPU s), on a copy of the shared warehouse and on an empty folder.
"""

from __future__ import annotations

import json
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


def _dbt(command: list[str], data_dir: Path, parsed: Path, tz: str) -> tuple[int, list[dict], str]:
    """Run `command + BUILD_ARGS --select MODEL` in `data_dir` as Dagster does: exit code, JSON events, dbt.log."""
    target = data_dir / "dbt_target"
    target.mkdir(parents=True)
    shutil.copy(parsed, target)  # the shared warehouse's parse: no full parse here
    env = {**os.environ, **LOG_ENV, "AMOCRM_KPI_DATA_DIR": str(data_dir), "TZ": tz}
    if command[0] == str(DBT):  # the plain dbt, started the way dbt_in_data_dir.sh starts dbt
        env["AMOCRM_KPI_DATA_DIR"] = "."
    result = subprocess.run([*command, *BUILD_ARGS, "--select", MODEL, "--project-dir", str(DBT_PROJECT_DIR),
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
    assert not any(line.startswith("{") for line in log.splitlines())  # dbt.log: dbt's plain debug lines
    assert "create or replace view" in log and MODEL in log

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
