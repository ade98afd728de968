"""dbt's unit tests (models' logic on fixed rows, `unit_tests:` in the model YAMLs) run here, once: the daily
build leaves them out (`dbt build --exclude-resource-type unit_test`, pipelines/defs/transform.py
BUILD_ARGS and the benchmark), as dbt advises for production runs, so this is where a broken one fails."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]


def test_every_unit_test_passes(kpi_warehouse, tmp_path):
    """On a copy of the shared warehouse (dbt reads the input models' column types from it): every unit
    test of the project runs, and none fails (`dbt test` exits non-zero on one that fails)."""
    copy = kpi_warehouse.copy(tmp_path)
    copy.dbt("test", "--select", "test_type:unit")
    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text())
    results = json.loads((tmp_path / "dbt_target" / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert manifest["unit_tests"], "the project has unit tests"
    assert ran == {unique_id: "pass" for unique_id in manifest["unit_tests"]}

