"""The dbt benchmark's per-model report and its PASS/MISS line (the benchmark itself is not a test)."""

from __future__ import annotations

import json
import re

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


def test_verdict_passes_only_when_every_daily_build_is_under_the_target():
    assert verdict([19.9]).startswith("PASS") and verdict([20.0]).startswith("MISS")
    assert verdict([12.0, 20.4, 15.0]) == ("MISS  incremental daily build 12.0 / 20.4 / 15.0 s (worst 20.4 s), "
                                           "target under 20s")
    assert verdict([12.0, 19.0]).startswith("PASS") and verdict([]).startswith("MISS")


def test_host_reference_times_the_three_pieces_of_work():
    from benchmarks.dbt_build import host_reference

    text = host_reference()
    match = re.fullmatch(r"reference DuckDB (\d+\.\d\d)s, Python (\d+\.\d\d)s, new memory (\d+\.\d\d)s/GiB", text)
    assert match and all(float(value) > 0 for value in match.groups()), text


def test_a_build_line_shows_the_kernels_share_and_the_page_faults():
    from benchmarks.dbt_build import Build

    assert Build(17.24, 1562.4, 28.61, 8.25, 488_072).line() == (
        "  17.2s  CPU   28.6s (kernel  8.2s, 488k page faults)  peak 1,562 MiB")


def test_node_seconds_reads_the_nodes_and_the_elapsed_time_from_dbts_json_log_lines():
    """The benchmark runs dbt as Dagster does (--no-write-json, JSON log lines): its per-node times come from
    those lines. The lines here are dbt 1.11's (`DBT_LOG_FORMAT=json`), cut to the fields the benchmark reads."""
    from benchmarks.dbt_build import node_seconds

    def line(name: str, data: dict) -> str:
        return json.dumps({"data": data, "info": {"code": "Q012", "level": "info", "msg": "...", "name": name}})

    def node(uid: str) -> dict:
        return {"node_name": uid.split(".")[-1], "node_status": "success", "unique_id": uid}

    lines = [
        "not a json line",
        line("SQLQuery", {"node_info": node("model.amocrm_kpi.fct_leads"), "sql": "select 1"}),
        line("LogHookEndLine", {"execution_time": 0.42, "node_info": node("operation.amocrm_kpi.on-run-start-0")}),
        line("LogModelResult", {"execution_time": 2.915275, "node_info": node("model.amocrm_kpi.fct_leads"),
                                "status": "OK"}),
        line("LogTestResult", {"execution_time": 0.6054137, "node_info": node("test.amocrm_kpi.unique_x"),
                               "status": "warn"}),
        line("FinishedRunningStats", {"execution_time": 33.149998, "stat_line": "..."}),
    ]
    report = node_seconds(lines)
    assert report["elapsed_time"] == 33.149998
    assert [(r["unique_id"], r["execution_time"], r["status"]) for r in report["results"]] == [
        ("operation.amocrm_kpi.on-run-start-0", 0.42, None), ("model.amocrm_kpi.fct_leads", 2.915275, "OK"),
        ("test.amocrm_kpi.unique_x", 0.6054137, "warn")]
