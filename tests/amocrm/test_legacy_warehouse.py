"""A warehouse loaded before raw rows carried `account_id` (pipelines/amocrm/migrate.py).

The legacy warehouse is made for real: the extraction code of `LEGACY_COMMIT` (the last version
without `account_id`), taken from this repository's history with `git archive`, loads a simulated
account in a subprocess. Then this version extracts the same account two days later: re-read
records must merge over their legacy rows (one row per id), and the marts equal the reference.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from amocrm_checks import NOW, extract
from kpi_reference import MARTS, assert_mart_matches
from pipelines.amocrm.migrate import LegacyAccountUnknown
from pipelines.simulator import SimulatedAccount, Simulator

LEGACY_COMMIT = "f7b581e123452f08e847b080e2bbead53f83a2f4"  # main before account_id (issue 14 step 2)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400
KEYS = {"leads": "id", "contacts": "id", "companies": "id", "events": "id", "notes": "id", "tasks": "id",
        "deletions": "entity_type, id", "pipeline_statuses": "pipeline_id, id", "users": "id"}

pytestmark = pytest.mark.xdist_group("legacy_warehouse")


def _legacy_code(target: Path) -> Path:
    """The `pipelines` package of LEGACY_COMMIT, unpacked into `target`."""
    try:
        archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", LEGACY_COMMIT, "pipelines"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:  # not a git checkout with that history
        pytest.skip(f"the legacy code ({LEGACY_COMMIT[:10]}) is not available from git: {exc}")
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatedAccount.generate(seed=23, leads=200, now=NOW), rate_limit=None) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def legacy_folder(tmp_path_factory: pytest.TempPathFactory, sim: Simulator) -> Path:
    """A data folder loaded by the legacy code, with the simulator's clock two days back."""
    root = tmp_path_factory.mktemp("legacy")
    code = _legacy_code(root / "code")
    data_dir = root / "data"
    data_dir.mkdir()
    sim.clock.set(NOW - 2 * DAY)
    script = ("from pipelines.amocrm import run_extraction; "
              f"run_extraction(base_url={sim.base_url!r}, access_token={sim.long_lived_token!r}, "
              "requests_per_second=1000)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(code), "AMOCRM_KPI_DATA_DIR": str(data_dir), "HOME": str(root)}
    done = subprocess.run([sys.executable, "-c", script], cwd=data_dir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    sim.clock.set(NOW)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        columns = {r[0] for r in con.execute("select distinct column_name from information_schema.columns "
                                             "where table_schema = 'raw_amocrm' and table_name <> 'source_origin'").fetchall()}
    assert "account_id" not in columns, "the legacy code wrote account_id: LEGACY_COMMIT is not a legacy version"
    return data_dir


def _copy(legacy: Path, target: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(legacy, target)
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(target))
    return target


def _query(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_a_legacy_warehouse_is_stamped_then_merged_without_duplicates(legacy_folder, sim, tmp_path, monkeypatch,
                                                                      build_kpi_warehouse):
    data_dir = _copy(legacy_folder, tmp_path / "data", monkeypatch)
    account_id = sim.account.profile.account_id
    legacy_leads = _query(data_dir, "select count(*) from raw_amocrm.leads")[0][0]
    warehouse = build_kpi_warehouse(data_dir, sim)  # this version extracts (two days later), loads inputs, dbt build
    for table, key in KEYS.items():
        duplicates = _query(data_dir, f"select {key}, count(*) from raw_amocrm.{table} group by all having count(*) > 1")
        assert duplicates == [], f"{table}: ids loaded twice, e.g. {duplicates[:3]}"
    tables = [r[0] for r in _query(data_dir, "select table_name from information_schema.tables "
                                             "where table_schema = 'raw_amocrm' and table_name not like '\\_dlt%' "
                                             "escape '\\' and table_name <> 'source_origin'")]
    for table in tables:
        assert _query(data_dir, f"select distinct account_id from raw_amocrm.{table}") in ([], [(account_id,)]), table
    loads = _query(data_dir, "select count(distinct _dlt_load_id), count(*) from raw_amocrm.leads")[0]
    assert loads[0] >= 2 and loads[1] >= legacy_leads, "legacy rows kept, changed leads re-read by this version"
    assert loads[1] == len(warehouse.truth.leads)
    reference = warehouse.reference()
    for table in MARTS:
        assert_mart_matches(warehouse.query(f"select * from marts.{table}"), reference, table)


def test_a_legacy_warehouse_of_an_unknown_account_is_refused_before_anything_is_loaded(legacy_folder, sim, tmp_path,
                                                                                         monkeypatch):
    data_dir = _copy(legacy_folder, tmp_path / "data", monkeypatch)
    (data_dir / "amocrm_account.json").unlink()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute("delete from raw_amocrm.account")
    loads = _query(data_dir, "select count(*) from raw_amocrm._dlt_loads")
    with pytest.raises(LegacyAccountUnknown) as refused:
        extract(sim)
    message = str(refused.value)
    assert "nothing says which amoCRM account" in message and "amocrm_account.json" in message
    assert "to start over" in message
    assert _query(data_dir, "select count(*) from raw_amocrm._dlt_loads") == loads, "nothing was loaded"
    columns = _query(data_dir, "select count(*) from information_schema.columns "
                               "where table_schema = 'raw_amocrm' and column_name = 'account_id' "
                               "and table_name <> 'source_origin'")
    assert columns == [(0,)], "no legacy table was changed"
