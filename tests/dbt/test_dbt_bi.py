"""BI-ready marts: one grain per table so a plain SUM is right, names beside ids, one money type,
time in stage in days, CAC unknown (null) where no spend was supplied."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warehouse")]

GRAINS = {"daily": "day", "weekly": "week", "monthly": "month"}
FACTS = {"sales": "fct_sales_kpi", "activity": "fct_manager_activity", "lost_deals": "fct_lost_deals"}
# Money columns, by name, in every table of `marts` (the BI tables and any later mart included).
MONEY = r"(price|revenue|value|spend|cac|run_rate)"


@pytest.fixture(scope="module")
def reference(kpi_warehouse):
    return kpi_warehouse.reference()


def test_a_plain_sum_of_a_bi_table_is_the_true_total(kpi_warehouse, reference):
    leads = reference.leads
    won = leads[~leads["is_deleted"].astype(bool) & leads["is_won"].astype(bool)]
    lost = leads[~leads["is_deleted"].astype(bool) & leads["is_lost"].astype(bool)]
    true_revenue = Decimal(int(won["price"].sum()))
    mixed = kpi_warehouse.query("select sum(revenue_won) from marts.fct_sales_kpi").iat[0, 0]
    assert mixed == 3 * true_revenue  # the trap the BI tables remove: day + week + month rows together
    for table in ("sales_daily", "sales_weekly", "sales_monthly"):
        total = kpi_warehouse.query(f"select sum(revenue_won) as revenue, sum(deals_won) as won, "
                                    f"sum(leads_created) as created from marts.{table}").iloc[0]
        assert (total.revenue, total.won) == (true_revenue, len(won)), table
        assert total.created == (~leads["is_deleted"].astype(bool)).sum(), table
    for table in ("lost_deals_daily", "lost_deals_weekly", "lost_deals_monthly"):
        total = kpi_warehouse.query(f"select sum(deals_lost), sum(value_lost) from marts.{table}").iloc[0]
        assert tuple(total) == (len(lost), Decimal(int(lost["price"].sum()))), table
    calls = reference.manager_activity().query("period_grain == 'day'")["calls_outgoing"].sum()
    for table in ("activity_daily", "activity_weekly", "activity_monthly"):
        assert kpi_warehouse.query(f"select sum(calls_outgoing) from marts.{table}").iat[0, 0] == calls, table


@pytest.mark.parametrize("prefix", FACTS)
@pytest.mark.parametrize("suffix", GRAINS)
def test_each_bi_table_holds_exactly_one_grain_of_its_fact(kpi_warehouse, prefix, suffix):
    table, grain = f"{prefix}_{suffix}", GRAINS[suffix]
    rows = kpi_warehouse.query(f"select count(*) from marts.{FACTS[prefix]} where period_grain = '{grain}'").iat[0, 0]
    shape = kpi_warehouse.query(
        f"select count(*) as n, count(*) filter (where isodow(period_start) <> 1) as not_monday, "
        f"count(*) filter (where day(period_start) <> 1) as not_first from marts.{table}").iloc[0]
    assert shape.n == rows > 0
    if grain == "week":
        assert shape.not_monday == 0
    if grain == "month":
        assert shape.not_first == 0


def test_bi_tables_carry_manager_team_pipeline_and_stage_names(kpi_warehouse):
    truth = kpi_warehouse.truth
    users = truth.users.set_index("id")
    groups = truth.groups.set_index("id")["name"]
    pipelines = truth.pipelines.set_index("id")["name"]
    statuses = truth.statuses.set_index(["pipeline_id", "id"])["name"]
    sales = kpi_warehouse.query("select * from marts.sales_monthly")
    known = sales[sales["manager_id"].isin(users.index)]
    assert len(known) > 0 and list(known["manager_name"]) == list(users.loc[known["manager_id"], "name"])
    assert list(known["group_name"]) == list(groups.loc[users.loc[known["manager_id"], "group_id"]])
    assert list(sales["pipeline_name"]) == list(pipelines.loc[sales["pipeline_id"]])
    lost = kpi_warehouse.query("select * from marts.lost_deals_monthly where lost_at_status_id is not null")
    assert len(lost) > 0
    assert list(lost["lost_at_stage_name"]) == [statuses[(p, s)] for p, s in
                                                zip(lost["lost_at_pipeline_id"], lost["lost_at_status_id"])]
    funnel = kpi_warehouse.query("select * from marts.funnel_by_cohort")
    assert list(funnel["stage_name"]) == [statuses[(p, s)] for p, s in zip(funnel["pipeline_id"], funnel["status_id"])]


def test_time_in_stage_is_published_in_days(kpi_warehouse):
    funnel = kpi_warehouse.query(
        "select f.hours_in_stage_median, f.hours_in_stage_p90, b.days_in_stage_median, b.days_in_stage_p90 "
        "from marts.fct_funnel as f join marts.funnel_by_cohort as b using (cohort_month, pipeline_id, status_id) "
        "where f.hours_in_stage_median is not null")
    assert len(funnel) > 0
    assert (funnel["days_in_stage_median"] * 24 - funnel["hours_in_stage_median"]).abs().max() < 1e-9
    assert (funnel["days_in_stage_p90"] * 24 - funnel["hours_in_stage_p90"]).abs().max() < 1e-9


def test_money_columns_have_one_exact_type_in_every_mart(kpi_warehouse):
    money = kpi_warehouse.query(
        "select table_name, column_name, data_type from information_schema.columns "
        f"where table_schema = 'marts' and regexp_matches(column_name, '{MONEY}') "
        "and column_name not like '%attainment%' and column_name not like 'open_without_%' "  # counts
        "and column_name <> 'dimension_value'")  # a label: a tag, channel or field value
    assert {"fct_leads.price", "fct_sales_kpi.revenue_won", "sales_monthly.revenue_won", "fct_cac.cac",
            "fct_forecast.open_value", "lost_deals_daily.value_lost"} <= set(money["table_name"] + "." + money["column_name"])
    wrong = money[money["data_type"] != "DECIMAL(18,2)"]
    assert wrong.empty, wrong.to_string()


def test_cac_is_unknown_where_no_spend_was_supplied(kpi_warehouse):
    reference = kpi_warehouse.reference()  # a spend row keyed by a source's name is for its id
    spent = {(row["month"], reference.spend_channel(row["channel"])) for row in kpi_warehouse.spend}
    cac = kpi_warehouse.query("select * from marts.fct_cac")
    unknown = cac[[(m, c) not in spent for m, c in zip(cac["month"], cac["channel"])]]
    assert (unknown["new_customers"] > 0).sum() >= 1  # channels with customers and no spend row exist
    assert unknown["marketing_spend"].isna().all() and unknown["cac"].isna().all()
    known = cac[[(m, c) in spent for m, c in zip(cac["month"], cac["channel"])]]
    assert known["marketing_spend"].notna().all()


def test_the_serving_copy_publishes_the_bi_tables(kpi_warehouse, tmp_path):
    from pipelines.publish import publish_marts

    published = publish_marts(kpi_warehouse.path, tmp_path / "serving.duckdb")
    bi = {f"{p}_{s}" for p in FACTS for s in GRAINS} | {"funnel_by_cohort"}
    assert bi <= set(published.tables)
    counts = kpi_warehouse.query("select count(*) from marts.sales_monthly").iat[0, 0]
    assert published.tables["sales_monthly"] == counts
