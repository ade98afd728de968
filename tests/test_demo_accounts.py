"""`make demo` with two configured accounts (issue 14), from a terminal as a user runs it.

Real: two hub simulators over HTTP, `python -m pipelines.demo` in a subprocess with a temp data folder and
Dagster home. acc1's integration was switched off: its extraction run fails, acc2 is extracted and built
all the same, the output has acc2's KPI block, and the demo exits 1 naming acc1 and the cause last.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

pytestmark = pytest.mark.xdist_group("dagster")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOW = 1_767_000_000


def test_demo_extracts_each_account_builds_once_and_names_the_failed_one(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper() and k != "DAGSTER_HOME"}
    home = tmp_path / "dagster_home"
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(tmp_path / "data"),
            "DAGSTER_HOME": str(home), "SOURCES__AMOCRM__REQUESTS_PER_SECOND": "1000"}
    with Simulators.generate(derived_specs(2, seed=5, leads=60), now=NOW, horizon_days=30, rate_limit=None) as hub:
        env |= hub.env()
        hub["acc1"].revoke_tokens()  # after the settings were taken: acc1's configured token is dead
        result = subprocess.run([sys.executable, "-m", "pipelines.demo"], cwd=PROJECT_ROOT,
                                env=env, capture_output=True, text=True, timeout=900)
        truth = {key: hub[key].truth() for key in hub}
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Traceback" not in output and "was yielded which is not selected" not in output, output[-4000:]
    assert "[acc1] amocrm_extract: started" in result.stdout and "[acc2] amocrm_extract: done" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Failed account acc1: ") and "rejected" in last, output[-4000:]
    assert "acc2" not in last

    acc2 = truth["acc2"].account["id"]
    kpi = result.stdout.split("KPI summary", 1)[1]
    assert f"(account {acc2}, " in kpi and f"(account {truth['acc1'].account['id']}, " not in kpi, kpi
    assert "Results (from 2 amoCRM accounts" in result.stdout
    serving = tmp_path / "data" / "serving" / "amocrm_kpi.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        leads = con.execute("select account_id, count(*) from marts.fct_leads group by 1").fetchall()
    assert leads == [(acc2, len(truth["acc2"].leads))]

    monkeypatch.setenv("DAGSTER_HOME", str(home))  # its dagster.yaml names its folders by this variable
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the runs are in the project's instance
        extracts = instance.get_runs(dg.RunsFilter(job_name="amocrm_extract_account"))
        (transform,) = instance.get_runs(dg.RunsFilter(job_name="amocrm_transform"))
    assert sorted((r.tags["dagster/partition"], r.status) for r in extracts) == [
        ("acc1", dg.DagsterRunStatus.FAILURE), ("acc2", dg.DagsterRunStatus.SUCCESS)]
    assert {r.tags["amocrm_kpi/batch"] for r in extracts} == {transform.tags["amocrm_kpi/batch"]}
    assert transform.tags["amocrm_kpi/failed_accounts"] == "acc1"
