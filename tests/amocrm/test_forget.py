"""`python -m pipelines.amocrm forget --account KEY` (issue 14): one account leaves the warehouse for good.

Real: two hub accounts over HTTP loaded into one temp warehouse, `dbt run` (so dbt's incremental tables
hold both), the CLI as a subprocess, `dbt build` after. The forgotten account is in no table and no
mart any more, the other's rows are untouched, and adding it back reads its whole history again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from amocrm_checks import FAST, NOW, assert_matches_truth

from pipelines import paths
from pipelines.amocrm import forget
from pipelines.amocrm.run import run_extraction
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

PROJECT_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def hub(clean_env, monkeypatch):
    with Simulators.generate(derived_specs(2, seed=11, leads=100), now=NOW, horizon_days=60, rate_limit=None) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


def _query(sql: str) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql).fetchall()


def _rows_per_table(account_id: int) -> dict[str, int]:
    """Rows of `account_id` in every base table that has the column, any schema."""
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        tables = con.execute("select c.table_schema, c.table_name from information_schema.columns as c inner join "
                             "information_schema.tables as t using (table_schema, table_name) "
                             "where c.column_name = 'account_id' and t.table_type = 'BASE TABLE'").fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}" where account_id = {account_id}').fetchone()[0]
                for s, t in tables}


def _forget(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.amocrm", "forget", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_forget_removes_one_account_everywhere_and_it_can_be_added_again(hub, clean_env):
    from tests.conftest import Warehouse

    ids = {key: int(hub[key].truth().account["id"]) for key in hub}
    for key in ("acc1", "acc2"):
        run_extraction(account_key=key, **FAST)
    warehouse = Warehouse(data_dir=paths.data_dir(), sim=None)
    warehouse.load_inputs()  # no CSV rows: both accounts' marts from amoCRM alone
    # dbt's incremental tables (and their ledger) now hold both accounts, and a mart does
    warehouse.dbt("run", "--select", "+int_activities", "+int_lead_status_history", "+dim_accounts")
    before = {key: _rows_per_table(account_id) for key, account_id in ids.items()}
    assert before["acc2"]["intermediate.int_lead_events"] > 0 and before["acc2"]["marts.dim_accounts"] == 1
    acc2_loads = {r[0] for r in _query(f"select _dlt_load_id from raw_amocrm.extractions where account_id = {ids['acc2']}")}
    data = paths.data_dir()
    assert (data / ".dlt" / "amocrm_acc2").is_dir() and (data / "accounts" / "acc2" / "amocrm_account.json").exists()

    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(data)}
    listed = _forget(clean_env, env | hub.env(), "--account", "acc2")  # no --yes: only says what it would do
    assert listed.returncode == 0, listed.stderr
    assert "would remove" in listed.stdout and "Nothing was removed: run again with --yes" in listed.stdout
    assert f"amoCRM account id {ids['acc2']}" in listed.stdout and "raw_amocrm.leads" in listed.stdout
    assert "WARNING: account 'acc2' is still configured" in listed.stdout
    assert _rows_per_table(ids["acc2"]) == before["acc2"]

    unknown = _forget(clean_env, env, "--account", "acc9", "--yes")
    assert unknown.returncode == 2
    assert "no account 'acc9' is known" in unknown.stderr
    assert f"acc1 ({ids['acc1']})" in unknown.stderr and f"acc2 ({ids['acc2']})" in unknown.stderr
    with pytest.raises(forget.UnknownAccount, match="no account '../acc2'"):  # never a path
        forget.forget("../acc2")

    acc1_only = {k: v for k, v in hub.env().items() if "__ACC2__" not in k}  # acc2 removed from the settings
    forgotten = _forget(clean_env, env | acc1_only, "--account", "acc2", "--yes")
    assert forgotten.returncode == 0, forgotten.stderr
    assert "removed" in forgotten.stdout and "still configured" not in forgotten.stdout
    assert not any(_rows_per_table(ids["acc2"]).values())
    assert _rows_per_table(ids["acc1"]) == before["acc1"]
    assert _query("select count(*) from raw_amocrm._dlt_pipeline_state where pipeline_name = 'amocrm_acc2'") == [(0,)]
    assert not {r[0] for r in _query("select load_id from raw_amocrm._dlt_loads")} & acc2_loads
    assert not {r[0] for r in _query("select load_id from intermediate.int_processed_loads")} & acc2_loads
    assert not (data / ".dlt" / "amocrm_acc2").exists() and not (data / "accounts" / "acc2").exists()
    assert (data / ".dlt" / "amocrm_acc1").is_dir() and (data / "accounts" / "acc1" / "amocrm_account.json").exists()

    built = warehouse.dbt("build", "--select", "int_extraction", "dim_accounts")  # the next build: acc1 only
    assert _query("select account_id from marts.dim_accounts") == [(ids["acc1"],)]
    assert "PASS extraction_time_named_by_extractions" in built.stdout  # acc1's time is still its own load's

    run_extraction(account_key="acc2", **FAST)  # added again: its whole history, not "changes since"
    assert_matches_truth(hub["acc2"].truth(), account_id=ids["acc2"])
