"""The marts equal the KPIs computed independently from the simulator's ground truth (kpi_reference)."""

from __future__ import annotations

import pytest

from kpi_reference import assert_frames_match

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

PERIOD_KEY = ["period_grain", "period_start"]

# table -> (key columns, float columns compared with a tolerance)
TABLES = {
    "fct_sales_kpi": (PERIOD_KEY + ["pipeline_id", "manager_id"],
                      ("win_rate", "cohort_conversion", "sales_cycle_days_sum", "sales_cycle_days_mean",
                       "sales_cycle_days_median", "sales_cycle_days_p90")),
    "fct_lost_deals": (PERIOD_KEY + ["pipeline_id", "manager_id", "loss_reason_id", "loss_reason",
                                     "lost_at_pipeline_id", "lost_at_status_id"], ()),
    "fct_manager_activity": (PERIOD_KEY + ["manager_id"], ()),
    "fct_funnel": (["cohort_month", "pipeline_id", "status_id"],
                   ("stage_conversion", "open_here_age_hours_median", "open_here_age_hours_max",
                    "hours_in_stage_median", "hours_in_stage_p90")),
    "fct_cac": (["month", "channel"], ()),
    "fct_satisfaction": (PERIOD_KEY + ["manager_id"], ("csat", "nps")),
    "fct_plan_vs_fact": (["month", "manager_id"], ("revenue_attainment", "deals_attainment")),
    # weighted value and run rate are float estimates rounded to cents in the mart
    "fct_forecast": (["pipeline_id", "manager_id"], ("weighted_value", "month_run_rate")),
}
METHODS = {"fct_sales_kpi": "sales_kpi", "fct_lost_deals": "lost_deals", "fct_manager_activity": "manager_activity",
           "fct_funnel": "funnel", "fct_cac": "cac", "fct_satisfaction": "satisfaction",
           "fct_plan_vs_fact": "plan_vs_fact", "fct_forecast": "forecast"}


@pytest.fixture(scope="module")
def reference(kpi_warehouse):
    return kpi_warehouse.reference()


@pytest.mark.parametrize("table", TABLES)
def test_mart_matches_reference(kpi_warehouse, reference, table):
    key, approx = TABLES[table]
    expected = getattr(reference, METHODS[table])()
    actual = kpi_warehouse.query(f"select * from marts.{table}")
    abs_tol = 0.01 if table == "fct_forecast" else 1e-9
    assert_frames_match(actual, expected, key, approx=approx, abs_tol=abs_tol)


def test_fct_leads_matches_reference(kpi_warehouse, reference):
    """Live leads column by column; deleted ones are all there and flagged (a lead deleted before it was
    ever extracted is only a stub in the warehouse, so its other columns are not compared)."""
    columns = ["lead_id", "pipeline_id", "status_id", "manager_id", "group_id", "price", "created_date",
               "closed_date", "is_won", "is_lost", "is_deleted", "channel", "loss_reason_id", "loss_reason",
               "lost_at_pipeline_id", "lost_at_status_id", "sales_cycle_days", "customer_type", "customer_id",
               "is_first_won_of_customer"]
    actual = kpi_warehouse.query("select * from marts.fct_leads")
    expected = reference.leads
    assert_frames_match(actual[["lead_id", "is_deleted"]], expected[["lead_id", "is_deleted"]], ["lead_id"])
    live = ~expected["is_deleted"].astype(bool)
    assert_frames_match(actual[~actual["is_deleted"].astype(bool)], expected.loc[live, columns], ["lead_id"],
                        approx=("sales_cycle_days",))


def test_the_comparison_covers_several_months_managers_and_pipelines(reference):
    """The account is rich enough for the comparisons above to mean something."""
    monthly = reference.sales_kpi().query("period_grain == 'month' and deals_won > 0")
    assert monthly["period_start"].nunique() >= 6
    assert monthly["manager_id"].nunique() >= 5
    assert monthly["pipeline_id"].nunique() >= 2
    leads = reference.leads
    assert leads["is_deleted"].sum() > 0 and leads["is_lost"].sum() > 0
    assert leads["lost_at_status_id"].notna().sum() > 0
    activity = reference.manager_activity().query("period_grain == 'month'")
    for measure in ("calls_outgoing", "calls_incoming", "calls_connected", "meetings_held", "tasks_completed",
                    "tasks_overdue", "messages_sent"):
        assert activity[measure].sum() > 0, measure
    assert reference.satisfaction()["responses"].sum() > 0
    assert (reference.cac()["new_customers"] > 0).sum() >= 3
    assert reference.plan_vs_fact()["target_revenue"].notna().sum() >= 8


def test_dimensions(kpi_warehouse):
    truth = kpi_warehouse.truth
    managers = kpi_warehouse.query("select * from marts.dim_managers")
    assert sorted(managers["manager_id"]) == sorted(truth.users["id"])
    stages = kpi_warehouse.query("select * from marts.dim_pipeline_stages")
    assert len(stages) == len(truth.statuses)
    won = stages[stages["status_id"] == 142]
    assert len(won) == truth.pipelines.shape[0]
    assert all(won["stage_order"] == stages.groupby("pipeline_id")["stage_order"].max().loc[won["pipeline_id"]].values)
    assert stages.loc[stages["status_id"] == 143, "stage_order"].isna().all()
