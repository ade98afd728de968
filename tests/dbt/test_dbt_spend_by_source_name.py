"""Spend keyed by an amoCRM source's name counts for that source's channel (its id), so CAC is the same
either way; a name that is not one source's alone, or a month's spend keyed by both the id and the
name, fails the build loudly instead of being guessed at or counted twice."""

from __future__ import annotations

import json

import duckdb
import pytest

from kpi_reference import assert_frames_match
from pipelines.defs.broken_rules import broken_rules

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

SPEND_MODELS = ("build", "--select", "stg_inputs__marketing_spend+")
RULES = "column_rules_int_marketing_spend"  # the model's blocking rules in one test (tests/generic/column_rules.sql)


def _source_by_name(warehouse) -> tuple[str, str]:
    """(id, name) of the amoCRM source whose channel (a source id: leads without a UTM value) brought
    the most new customers, by the independent reference."""
    customers = warehouse.reference().first_won["channel"].value_counts()
    names = warehouse.truth.leads.dropna(subset=["source_id"]).drop_duplicates("source_id")
    names = dict(zip(names["source_id"].astype(int).astype(str), names["source_name"]))
    source_id = next(channel for channel in customers.index if channel in names)
    return source_id, names[source_id]


def _statuses(warehouse) -> dict[str, str]:
    """Node name -> status of the last dbt command on `warehouse`."""
    results = json.loads((warehouse.data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results
            if not r["unique_id"].startswith("operation.")}  # not the on-run-start upgrade hook


def _rebuild(warehouse, spend):
    warehouse.spend = spend
    warehouse.load_inputs()
    return warehouse.dbt(*SPEND_MODELS, check=False)


def test_spend_keyed_by_source_name_gives_the_cac_of_spend_keyed_by_id(kpi_warehouse, tmp_path):
    source_id, name = _source_by_name(kpi_warehouse)
    theirs = {source_id, name.strip().lower()}
    by_id = [row for row in kpi_warehouse.spend if row["channel"].strip().lower() not in theirs]
    spend_months = sorted({r["month"] for r in by_id})
    by_id += [{"month": m, "channel": source_id, "amount": 7_000} for m in spend_months]
    by_name = [{**row, "channel": f"  {name.upper()} "} if row["channel"] == source_id else row for row in by_id]
    assert by_name != by_id

    results = {}
    for label, spend in (("id", by_id), ("name", by_name)):
        warehouse = kpi_warehouse.copy(tmp_path / label)
        result = _rebuild(warehouse, spend)
        assert result.returncode == 0, result.stdout[-4000:]
        results[label] = warehouse.query("select * from marts.fct_cac")
    assert_frames_match(results["name"], results["id"], ["month", "channel"])
    mine = results["name"][results["name"]["channel"] == source_id]
    assert (mine["source_name"] == name).all()
    # the spend keyed by name arrived in every month it was given for (other months: customers, no spend)
    spent = mine[mine["month"].astype(str).str[:7].isin([str(m)[:7] for m in spend_months])]
    assert len(spent) == len(spend_months) and spent["marketing_spend"].notna().all()
    assert (mine["new_customers"] > 0).any()
    reference = kpi_warehouse.reference()
    reference.spend = by_name
    assert_frames_match(results["name"], reference.cac(), ["month", "channel"])


def test_spend_keyed_by_both_the_id_and_the_name_of_a_source_fails_the_build(kpi_warehouse, tmp_path):
    source_id, name = _source_by_name(kpi_warehouse)
    month = kpi_warehouse.spend[0]["month"]
    spend = [{"month": month, "channel": source_id, "amount": 1_000},
             {"month": month, "channel": name.lower(), "amount": 1_000}]
    warehouse = kpi_warehouse.copy(tmp_path)
    assert _rebuild(warehouse, spend).returncode != 0
    statuses = _statuses(warehouse)
    assert statuses[RULES] == "fail"
    assert statuses["fct_cac"] == "skipped"  # not published with the money counted twice
    described = broken_rules(warehouse.data_dir / "dbt_target", warehouse.path, RULES)  # the Dagster check's
    assert described.startswith(f"{RULES} broke: marketing_spend_one_row_per_month_and_channel on "
                                f"account_id, month, channel = "), described  # the rule data/README.md names
    assert f", {source_id} (2 rows). " in described, described


def test_a_source_name_shared_by_two_sources_fails_the_build(kpi_warehouse, tmp_path):
    warehouse = kpi_warehouse.copy(tmp_path)
    source_id, name = _source_by_name(kpi_warehouse)

    with duckdb.connect(str(warehouse.path)) as connection:  # another source renamed to the same name
        other = connection.execute(
            "select min(source_id) from raw_amocrm.leads where source_id is not null and source_id <> ?",
            [int(source_id)]).fetchone()[0]
        connection.execute("update raw_amocrm.leads set source_name = ? where source_id = ?", [name, other])
    warehouse.dbt("run", "--select", "stg_amocrm__leads", "int_lead_sources")
    month = kpi_warehouse.spend[0]["month"]
    assert _rebuild(warehouse, [{"month": month, "channel": name, "amount": 1_000}]).returncode != 0
    statuses = _statuses(warehouse)
    assert statuses[RULES] == "fail"
    assert statuses["fct_cac"] == "skipped"
    described = broken_rules(warehouse.data_dir / "dbt_target", warehouse.path, RULES)
    assert described.startswith(f"{RULES} broke: expression on marketing_spend_channel_names_one_source "
                                "(1 row). "), described
