"""The dbt project's own conventions: every model and column documented, published tables under contract,
sources mapped to the dlt assets."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import DBT_PROJECT_DIR, run_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

PUBLISHED = {
    "dim_accounts": ["account_id", "name", "subdomain", "timezone", "currency", "currency_symbol", "extracted_at",
                     "last_extracted_at", "is_stale", "stale_after_hours", "freshness_checked_at"],
    "dim_managers": ["manager_id", "manager_name", "group_id", "group_name", "is_active"],
    "dim_pipeline_stages": ["pipeline_id", "pipeline_name", "status_id", "status_name", "stage_order", "is_won",
                            "is_lost"],
    "fct_leads": ["lead_id", "pipeline_id", "status_id", "manager_id", "price", "created_at", "closed_at", "is_won",
                  "is_lost", "is_deleted", "channel", "source_id", "source_name", "loss_reason", "lost_at_status_id",
                  "sales_cycle_days"],
    "fct_sales_kpi": ["period_grain", "period_start", "pipeline_id", "manager_id", "leads_created", "deals_won",
                      "revenue_won", "avg_deal_value", "deals_lost", "win_rate", "cohort_leads", "cohort_won",
                      "sales_cycle_days_mean", "sales_cycle_days_median", "sales_cycle_days_p90"],
    "fct_manager_activity": ["period_grain", "period_start", "manager_id", "calls_outgoing", "calls_incoming",
                             "calls_connected", "call_seconds", "meetings_held", "tasks_completed", "tasks_overdue",
                             "messages_sent"],
    "fct_funnel": ["cohort_month", "pipeline_id", "status_id", "stage_order", "reached", "reached_next",
                   "stage_conversion", "lost_here", "open_here", "hours_in_stage_median", "hours_in_stage_p90"],
    "fct_lost_deals": ["period_grain", "period_start", "pipeline_id", "manager_id", "loss_reason", "lost_at_status_id",
                       "deals_lost", "value_lost"],
    "fct_cac": ["month", "channel", "source_name", "marketing_spend", "new_customers", "cac"],
    "fct_satisfaction": ["period_grain", "period_start", "manager_id", "responses", "csat", "nps"],
    "fct_plan_vs_fact": ["month", "manager_id", "target_revenue", "revenue_won", "target_deals", "deals_won",
                         "revenue_attainment", "deals_attainment"],
    "fct_forecast": ["pipeline_id", "manager_id", "open_deals", "open_value", "weighted_value",
                     "month_to_date_revenue", "month_run_rate"],
    "fct_response": ["period_grain", "period_start", "pipeline_id", "manager_id", "leads_created", "leads_responded",
                     "responded_within_sla", "first_response_minutes_median", "first_response_minutes_p90",
                     "touches_24h", "touches_14d", "leads_without_touch_14d"],
    "fct_pipeline_daily": ["snapshot_date", "pipeline_id", "status_id", "manager_id", "open_deals", "open_value",
                           "stuck_deals"],
    "fct_crm_hygiene": ["snapshot_date", "manager_id", "open_deals", "open_without_next_task",
                        "open_with_overdue_task", "open_without_price", "open_without_contact",
                        "open_missing_required", "stuck_deals"],
    "fct_sales_by_dimension": ["period_grain", "period_start", "pipeline_id", "dimension", "dimension_value",
                               "leads_created", "deals_won", "revenue_won", "deals_lost"],
}


@pytest.fixture(scope="module")
def manifest(kpi_warehouse):
    return json.loads((kpi_warehouse.data_dir / "dbt_target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def models(manifest):
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_every_model_and_column_is_documented_and_matches_the_warehouse(kpi_warehouse, models):
    built = kpi_warehouse.query(
        "select table_schema, table_name, list(column_name order by ordinal_position) as columns "
        "from information_schema.columns where table_schema in ('staging', 'intermediate', 'marts') group by all"
    )
    built = {(r.table_schema, r.table_name): list(r.columns) for r in built.itertuples()}
    problems = []
    for name, node in models.items():
        if not node["description"].strip():
            problems.append(f"{name}: no description")
        documented = list(node["columns"])
        if documented != built.get((node["schema"], name)):
            problems.append(f"{name}: documented columns {documented} != built {built.get((node['schema'], name))}")
        problems += [f"{name}.{c}: no description" for c, col in node["columns"].items() if not col["description"]]
    assert {schema for schema, _ in built} == {"staging", "intermediate", "marts"}
    assert len(models) == len(built), "every built relation is a documented model"
    assert not problems, "\n".join(problems)


# Tables that hold money: each carries its account's currency ("Many accounts" in the contract).
MONEY = {"fct_leads", "fct_sales_kpi", "fct_lost_deals", "fct_cac", "fct_plan_vs_fact", "fct_forecast",
         "fct_sales_by_dimension", "sales_daily", "sales_weekly", "sales_monthly", "lost_deals_daily",
         "lost_deals_weekly", "lost_deals_monthly"}


def test_published_tables_have_the_contract_columns_under_an_enforced_contract(models):
    for table, columns in PUBLISHED.items():
        node = models[table]
        assert node["schema"] == "marts"
        assert node["config"]["contract"]["enforced"], table
        assert set(columns) <= set(node["columns"]), (table, set(columns) - set(node["columns"]))


def test_every_table_has_account_id_first_and_money_tables_a_currency(models):
    """amoCRM ids are unique only within an account: account_id leads every key (kpi-contract.md)."""
    for name, node in models.items():
        if name == "int_processed_loads":  # keyed by dlt load id, which names one account's load
            continue
        assert list(node["columns"])[:1] == ["account_id"], name
        if name in MONEY:
            assert list(node["columns"])[1] == "currency", name


def test_sources_map_to_the_dlt_assets(manifest):
    for source in manifest["sources"].values():
        key = source["meta"]["dagster"]["asset_key"]
        if source["source_name"] == "raw_amocrm":
            resource = source["name"].split("__")[0]
            expected = "dlt_amocrm_account" if resource == "_dlt_loads" else f"dlt_amocrm_{resource}"
            assert key == [expected], source["name"]
        else:
            assert key == ["user_inputs"], source["name"]


# Columns that mean the same in every model: described once, in models/docs/shared_columns.md.
SHARED_DOC_BLOCKS = {"period_grain": {"period_grain"}, "period_start": {"period_start"}, "load_id": {"load_id"},
                     "created_date": {"created_date"}, "stuck_deals": {"stuck_deals"}, "account_id": {"account_id"},
                     "currency": {"currency"}, "timezone": {"account_timezone"}}


def test_shared_columns_use_their_doc_block():
    blocks = set(re.findall(r"{%\s*docs\s+(\w+)\s*%}", (DBT_PROJECT_DIR / "models/docs/shared_columns.md").read_text()))
    problems = []
    for path in sorted((DBT_PROJECT_DIR / "models").rglob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            for column in model.get("columns") or []:
                used = re.fullmatch(r"""\{\{\s*doc\(["'](\w+)["']\)\s*\}\}""", str(column.get("description", "")).strip())
                if used and used.group(1) not in blocks:
                    problems.append(f"{model['name']}.{column['name']}: no doc block {used.group(1)!r}")
                if column["name"] in SHARED_DOC_BLOCKS and not (used and used.group(1) in SHARED_DOC_BLOCKS[column["name"]]):
                    problems.append(f"{model['name']}.{column['name']}: describe it with its shared doc block")
    assert not problems, "\n".join(problems)


def test_dbt_threads_come_from_the_environment(tmp_path, monkeypatch):
    """AMOCRM_KPI_DBT_THREADS sets dbt's threads (the profile's default is 4: README, dbt's Python work per
    node overlaps DuckDB's; 1 on a machine short of memory)."""
    monkeypatch.setenv("AMOCRM_KPI_DBT_THREADS", "2")
    result = run_dbt(tmp_path, "run", "--select", "int_processed_loads")
    assert "Concurrency: 2 threads" in result.stdout, result.stdout[-2000:]


def test_every_staging_account_id_is_checked_never_null(manifest, models):
    """A staging model's account_id is never null by a test of its own (not_null, not_null_columns,
    column_rules) or, for a view that reads it as is from one raw table, by that table's source test
    `is_the_account_id` (null or no loaded account's id), which runs before the view (staging YAML's note)."""
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test" and n.get("test_metadata")]
    own, raw = set(), set()
    for test in tests:
        meta = test["test_metadata"]
        kwargs, owner = meta.get("kwargs", {}), test.get("attached_node") or ""
        if meta["name"] == "is_the_account_id" and kwargs.get("column_name") == "account_id":
            raw.update(test["depends_on"]["nodes"])
        elif str(test["config"].get("severity", "")).lower() == "warn":
            continue  # a warning (column_warnings_<model>) does not keep a null out
        elif (meta["name"] == "not_null" and kwargs.get("column_name") == "account_id"
              and not test["config"].get("where")) or "account_id" in (
                kwargs.get("columns", []) if meta["name"] == "not_null_columns" else kwargs.get("not_null", [])):
            own.add(owner)
    unchecked = []
    for name, node in models.items():
        if not name.startswith("stg_amocrm__") or "account_id" not in node["columns"] or node["unique_id"] in own:
            continue
        sources = [n for n in node["depends_on"]["nodes"] if n.startswith("source.")]
        if len(sources) != 1 or sources[0] not in raw or node["config"]["materialized"] != "view":
            unchecked.append(name)
    assert unchecked == [], "account_id of these staging models is checked never null by no test"


def test_a_row_key_is_on_incremental_models_and_leads_with_account_id(models):
    """`row_key` is enforced by the project's incremental materialization only (macros/row_key.sql), and ids are
    unique only within an account."""
    keyed = {name: node["config"]["row_key"] for name, node in models.items() if node["config"].get("row_key")}
    assert set(keyed) == {"int_activities", "int_activity_attribution", "int_lead_touches", "int_lead_events",
                          "int_lead_status_history"}
    for name, key in keyed.items():
        assert models[name]["config"]["materialized"] == "incremental", name
        assert key[0] == "account_id", name
