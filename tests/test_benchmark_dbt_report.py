"""The dbt benchmark's per-model report and its PASS/MISS line (the benchmark itself is not a test)."""

from __future__ import annotations

import json

from benchmarks.dbt_build import NEW_MODELS, models_seconds, verdict


def test_models_seconds_sums_the_new_models_and_names_those_not_run(tmp_path):
    results = [{"unique_id": f"model.amocrm_kpi.{name}", "execution_time": 1.25} for name in NEW_MODELS[1:]]
    results += [{"unique_id": "model.amocrm_kpi.fct_leads", "execution_time": 50.0},
                {"unique_id": "test.amocrm_kpi.not_null_fct_pipeline_daily_x", "execution_time": 9.0}]
    (tmp_path / "dbt_target").mkdir()
    (tmp_path / "dbt_target" / "run_results.json").write_text(json.dumps({"results": results}))
    text = models_seconds(tmp_path)
    assert text.startswith(f"{1.25 * (len(NEW_MODELS) - 1):.1f}s")
    assert f"{NEW_MODELS[0]} not run" in text
    assert "fct_pipeline_daily 1.2s" in text and "fct_leads" not in text


def test_verdict_is_a_miss_at_or_over_the_target():
    assert verdict(19.9).startswith("PASS") and verdict(20.0).startswith("MISS")
