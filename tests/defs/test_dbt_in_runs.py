"""Issue 14: where Dagster starts dbt, and that it does not parse the whole project each time.

- An extraction run (`amocrm_extract_account`) has no dbt step: dbt's source tests (`is_the_account_id`,
  checks on the dlt assets) run in the transform's `dbt build` instead; `amocrm_daily` keeps them.
  The real runs are asserted in test_accounts_job.py (`test_one_account_scheduled_route_...`).
- dbt as Dagster starts it (`dbt_resource()`), in any data folder, reuses the parse prepared with the
  project: dbt hashes the profile's warehouse path into its parse state, so a profile that named the
  data folder made every run in another folder parse the whole project (about 4 s of CPU).
- Issue 15: nor does it start `dbt --version` (a whole dbt start, plus a request to PyPI) or a dbt adapter in
  Dagster's process before each run (pipelines/defs/dbt_resource.py).
"""

from __future__ import annotations

import dagster as dg
import pytest

pytestmark = pytest.mark.xdist_group("dagster")

FULL_PARSE = "Unable to do partial parsing"


def _plan(job_name: str) -> tuple[set[str], set[dg.AssetCheckKey]]:
    """The steps a run of the job executes, and the checks it evaluates."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    return {node.name for node in job.nodes}, set().union(*(d.assets_def.check_keys for d in job.asset_layer.data))


def test_an_extraction_run_starts_no_dbt_and_the_transform_runs_the_source_tests():
    from pipelines.defs.transform import SOURCE_TEST_CHECKS

    source_tests = {key for key in SOURCE_TEST_CHECKS if key.name.startswith("source_is_the_account_id_")}
    assert len(source_tests) >= 20 and source_tests == set(SOURCE_TEST_CHECKS)
    assert all(key.asset_key.path[0].startswith("dlt_amocrm_") for key in source_tests)

    steps, checks = _plan("amocrm_extract_account")
    assert steps and "amocrm_dbt_models" not in steps
    assert not checks & source_tests
    assert dg.AssetCheckKey(dg.AssetKey("dlt_amocrm_leads"), "rows_never_shrink") in checks  # raw checks stay

    steps, checks = _plan("amocrm_transform")
    assert "amocrm_dbt_models" in steps and "amocrm_extract" not in steps
    assert source_tests <= checks
    assert dg.AssetCheckKey(dg.AssetKey("dlt_amocrm_leads"), "rows_never_shrink") not in checks

    steps, checks = _plan("amocrm_daily")
    assert {"amocrm_extract", "amocrm_dbt_models"} <= steps and source_tests <= checks


def test_dbt_in_any_data_folder_reuses_the_prepared_parse(tmp_path, monkeypatch):
    import dagster_dbt.core.resource

    from pipelines.defs.transform import dbt_resource

    def no_version_process(command, *args, **kwargs):
        raise AssertionError(f"dagster-dbt started {command}: KpiDbtCliResource._cli_version is not used any more")

    monkeypatch.setattr(dagster_dbt.core.resource, "check_output", no_version_process)
    for folder in ("one", "two"):
        data_dir = tmp_path / folder
        data_dir.mkdir()
        monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(data_dir))
        target = tmp_path / f"target_{folder}"
        invocation = dbt_resource().cli(["parse"], target_path=target).wait()  # raises when dbt fails
        assert invocation.adapter is None  # no dbt adapter in this process (KpiDbtCliResource)
        log = (target / "dbt.log").read_text(encoding="utf-8")
        assert FULL_PARSE not in log, [line for line in log.splitlines() if FULL_PARSE in line]
        assert (target / "partial_parse.msgpack").exists()
        assert not list(data_dir.iterdir())  # nothing of dbt's in the data folder: it parsed, opened nothing


def test_dbt_without_a_data_folder_fails_saying_so(monkeypatch):
    """The wrapper never guesses a data folder: dbt would build a warehouse somewhere else."""
    import subprocess

    from pipelines.defs.transform import DBT_IN_DATA_DIR

    monkeypatch.delenv("AMOCRM_KPI_DATA_DIR", raising=False)
    result = subprocess.run([str(DBT_IN_DATA_DIR), "--version"], capture_output=True, text=True)
    assert result.returncode == 2 and "AMOCRM_KPI_DATA_DIR is not set" in result.stderr


def test_the_dagster_dbt_hooks_the_resource_replaces_still_exist():
    """An upgrade of dagster-dbt that renames them would bring back the version process and the adapter unseen."""
    from importlib.metadata import version

    from dagster_dbt import DbtCliResource

    from pipelines.defs.dbt_resource import HOOKS, KpiDbtCliResource
    from pipelines.defs.transform import dbt_resource

    for name in HOOKS:
        assert name in vars(DbtCliResource), f"dagster-dbt has no {name} any more: see pipelines/defs/dbt_resource.py"
        assert name in vars(KpiDbtCliResource)
    assert isinstance(dbt_resource(), KpiDbtCliResource)
    assert str(dbt_resource()._cli_version) == version("dbt-core")
