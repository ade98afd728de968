"""fct_pipeline_daily, fct_crm_hygiene and fct_sales_by_dimension against the independent reference
(kpi_hygiene), the dbt vars that shape them, and the hygiene table's life as a daily snapshot. Uses a
warehouse of its own, from an account chosen to hold every case the three tables count."""

from __future__ import annotations

import itertools
import json
import time

import duckdb
import pytest

from kpi_reference import assert_frames_match, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hygiene")]

SEED = 31
LEADS = 300
TABLES = ["fct_pipeline_daily", "fct_crm_hygiene", "fct_sales_by_dimension"]
HYGIENE_KEY = ["snapshot_date", "manager_id"]


def _has_every_case(truth) -> bool:
    """Open live leads without a task, with an overdue and a not yet due task, with price 0, without a
    contact; leads with two tags and with two products."""
    leads = truth.leads
    open_ids = set(leads.loc[~leads["is_deleted"].astype(bool) & ~leads["status_id"].isin([142, 143]), "id"])
    tasks = truth.tasks[(truth.tasks["entity_type"] == "leads") & ~truth.tasks["is_completed"].astype(bool)
                        & ~truth.tasks["is_deleted"].astype(bool) & truth.tasks["entity_id"].isin(open_ids)]
    overdue = tasks["complete_till"] < truth.at
    linked = set(truth.lead_contacts["lead_id"])
    priced = set(leads.loc[leads["price"] > 0, "id"])
    return (len(open_ids - set(tasks["entity_id"])) > 0 and overdue.any() and (~overdue).any()
            and len(open_ids - priced) > 0 and len(open_ids - linked) > 0
            and (truth.lead_tags.groupby("lead_id").size() > 1).any()
            and (truth.lead_field_values.groupby(["lead_id", "field_id"]).size() > 1).any())


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, build_kpi_warehouse):
    """Built at the real time (so that "overdue" in the marts, as of the load time, is the account's)."""
    from pipelines.simulator import SimulatedAccount, Simulator

    now = int(time.time())
    account = next(a for a in (SimulatedAccount.generate(seed=s, leads=LEADS, now=now)
                               for s in itertools.count(SEED)) if _has_every_case(a.truth()))
    with Simulator(account, rate_limit=None) as sim:
        # the three tables, their upstream models, dim_managers (their relationships) and tests only: the
        # full build is proven elsewhere
        yield build_kpi_warehouse(tmp_path_factory.mktemp("hygiene"), sim,
                                  select=tuple(f"+{t}" for t in [*TABLES, "dim_managers"]))


@pytest.fixture(scope="module")
def reference(warehouse):
    return warehouse.reference()


@pytest.mark.parametrize("table", TABLES)
def test_mart_matches_reference(warehouse, reference, table):
    assert_mart_matches(warehouse.query(f"select * from marts.{table}"), reference, table)


def test_the_comparison_covers_every_case(reference):
    """Each hygiene count, stuck deals on past days, and multi-tag / multi-product breakdowns occur."""
    hygiene = reference.crm_hygiene(required=("city",))
    for column in hygiene.columns.drop(HYGIENE_KEY):
        assert hygiene[column].sum() > 0, column
    daily = reference.pipeline_daily()
    assert daily["snapshot_date"].nunique() > 300 and daily["stuck_deals"].sum() > 0
    breakdown = reference.sales_by_dimension().query("period_grain == 'month'")
    for dimension in ("tag", "product"):
        counted = breakdown.query("dimension == @dimension")["leads_created"].sum()
        assert counted > reference.sales_kpi().query("period_grain == 'month'")["leads_created"].sum(), \
            f"some lead counts under two values of {dimension}"


def test_required_and_breakdown_fields_are_configurable(warehouse, reference, tmp_path):
    """amocrm_required_fields by code and by id, amocrm_breakdown_fields by a field's Russian name."""
    copy = warehouse.copy(tmp_path)
    copy.dbt("run", "--select", "fct_crm_hygiene", "fct_sales_by_dimension",
             "--vars", "{amocrm_required_fields: [CITY, 1001004], amocrm_breakdown_fields: ['Город']}")
    assert_frames_match(copy.query("select * from marts.fct_crm_hygiene"),
                        reference.crm_hygiene(required=("CITY", "1001004")), HYGIENE_KEY)
    actual = copy.query("select * from marts.fct_sales_by_dimension")
    assert set(actual["dimension"]) == {"tag", "channel", "Город"}
    assert_frames_match(actual, reference.sales_by_dimension(fields=("Город",)),
                        ["period_grain", "period_start", "pipeline_id", "dimension", "dimension_value"])


def test_hygiene_is_a_daily_snapshot(warehouse, reference, tmp_path):
    """A rerun on the same day replaces that day's rows (not adds to them); past days stay, also through
    `dbt build --full-refresh`."""
    copy = warehouse.copy(tmp_path)
    today = reference.crm_hygiene()
    with duckdb.connect(str(copy.path)) as connection:
        # yesterday's snapshot (today's, a day back and marked), and today's rows spoiled plus a stray one
        connection.execute("insert into marts.fct_crm_hygiene by name select * replace (snapshot_date - 1 as "
                           "snapshot_date, open_deals + 1000 as open_deals) from marts.fct_crm_hygiene")
        connection.execute("update marts.fct_crm_hygiene set open_deals = -1 where open_deals < 1000")
        connection.execute("insert into marts.fct_crm_hygiene by name select * replace (424242 as manager_id) "
                           "from marts.fct_crm_hygiene where open_deals = -1 limit 1")
    yesterday = copy.query("select * from marts.fct_crm_hygiene where open_deals >= 1000")
    assert len(yesterday) == len(today)

    for args in (("build", "--select", "fct_crm_hygiene"), ("build", "--select", "fct_crm_hygiene"),
                 ("build", "--full-refresh", "--select", "fct_crm_hygiene")):
        copy.dbt(*args)
        rows = copy.query("select * from marts.fct_crm_hygiene")
        day = today["snapshot_date"].iat[0]
        assert_frames_match(rows[rows["snapshot_date"] == day], today, HYGIENE_KEY)
        assert_frames_match(rows[rows["snapshot_date"] != day], yesterday, HYGIENE_KEY)


def test_rules_catch_broken_snapshots(warehouse, tmp_path):
    """Each singular rule of the three tables fails on the breakage it exists for."""
    broken = warehouse.copy(tmp_path)
    with duckdb.connect(str(broken.path)) as connection:
        connection.execute("update marts.fct_crm_hygiene set open_without_price = open_deals + 1 "
                           "where manager_id = (select min(manager_id) from marts.fct_crm_hygiene)")
        connection.execute("update marts.fct_pipeline_daily set open_deals = open_deals + 1 "
                           "where snapshot_date = (select max(snapshot_date) from marts.fct_pipeline_daily)")
    rules = ["assert_hygiene_counts_never_exceed_open_deals", "assert_pipeline_daily_latest_day_matches_current_status"]
    result = broken.dbt("test", "--select", *rules, check=False)
    assert result.returncode != 0
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in json.loads(
        (tmp_path / "dbt_target" / "run_results.json").read_text())["results"]
        if not r["unique_id"].startswith("operation.")}  # not the on-run-start upgrade hook
    assert statuses == {rule: "fail" for rule in rules}
