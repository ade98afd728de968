"""fct_response (issue 15): how fast and how often a new lead is touched, against the independent
reference (tests/kpi_response.py) on an account where managers answer at paces of their own
(scenario `first_response`), some on the lead's contact, some by e-mail, some never, and robots
send chat messages (scenario `chat_robots`: a robot's message is no response).
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

import kpi_response
from kpi_reference import assert_frames_match, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("response")]

LEADS = 500


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, build_kpi_warehouse):
    from pipelines.simulator import SimulatedAccount, Simulator

    account = SimulatedAccount.generate(seed=31, leads=LEADS, now=int(time.time()),
                                        scenarios={"chat_robots", "first_response"})
    with Simulator(account, rate_limit=None) as sim:
        # what the module reads and their tests only: the full build is proven on other warehouses
        yield build_kpi_warehouse(tmp_path_factory.mktemp("response"), sim,
                                  select=("+fct_response", "+int_lead_touches", "+stg_amocrm__notes", "+dim_managers"))


@pytest.fixture(scope="module")
def reference(warehouse):
    return warehouse.reference()


@pytest.fixture(scope="module")
def touches(warehouse):
    return warehouse.query("select * from intermediate.int_lead_touches")


def test_fct_response_matches_reference(warehouse, reference):
    assert_mart_matches(warehouse.query("select * from marts.fct_response"), reference, "fct_response")


def test_touches_match_reference(touches, reference):
    expected = kpi_response.touches(reference).rename(columns={"touch": "activity_id"})
    assert_frames_match(touches[["activity_id", "lead_id"]], expected[["activity_id", "lead_id"]],
                        ["activity_id", "lead_id"])


def test_first_responses_per_lead_match_reference(warehouse, reference):
    expected = kpi_response.first_responses(reference, 15).rename(columns={
        "minutes": "first_response_minutes", "within": "responded_within_sla", "sla_elapsed": "is_sla_elapsed"})
    columns = ["lead_id", "pipeline_id", "manager_id", "first_response_minutes", "responded_within_sla",
               "is_sla_elapsed", "touches_24h", "touches_14d"]
    actual = warehouse.query("select * from intermediate.int_lead_first_response")
    assert_frames_match(actual[columns], expected[columns], ["lead_id"], approx=("first_response_minutes",))


def test_a_contact_touch_counts_for_each_open_lead_of_the_contact(touches):
    on_contacts = touches[touches["touched_entity_type"] == "contact"]
    leads_per_touch = on_contacts.groupby("activity_id")["lead_id"].nunique()
    assert (leads_per_touch >= 2).any(), "a call on a contact with two open deals touches both"


def test_robot_messages_are_no_response(warehouse, touches):
    robots = warehouse.query("select 'event:' || id as activity_id from raw_amocrm.events "
                             "where type = 'outgoing_chat_message' and created_by = 0")
    users = warehouse.query("select 'event:' || id as activity_id from raw_amocrm.events "
                            "where type = 'outgoing_chat_message' and created_by > 0")
    assert len(robots) and not touches["activity_id"].isin(robots["activity_id"]).any()
    assert touches["activity_id"].isin(users["activity_id"]).any()


def test_outgoing_emails_are_touches_incoming_ones_are_not(warehouse, touches):
    mails = warehouse.query("select 'note:' || note_id as activity_id, mail_income from staging.stg_amocrm__notes "
                            "where note_type = 'amomail_message'")
    touched = mails["activity_id"].isin(touches["activity_id"])
    assert touched.any() and not touched[mails["mail_income"]].any()


def test_an_automatic_email_is_no_response(warehouse, touches):
    """Sent by the system (created_by 0): int_activities gives it to the responsible user, but no person
    touched the lead."""
    automatic = warehouse.query("select 'note:' || note_id as activity_id from staging.stg_amocrm__notes "
                                "where note_type = 'amomail_message' and not mail_income and created_by = 0")
    assert len(automatic) and not automatic["activity_id"].isin(touches["activity_id"]).any()


def test_never_answered_leads(warehouse):
    leads = warehouse.query("select * from intermediate.int_lead_first_response")
    silent = leads[leads["first_response_at"].isna()]
    assert len(silent) and silent["first_response_minutes"].isna().all() and not silent["responded_within_sla"].any()
    monthly = warehouse.query("select * from marts.fct_response where period_grain = 'month'")
    assert monthly["leads_without_touch_14d"].sum() > 0
    assert (monthly["leads_responded"] < monthly["leads_created"]).any()


def test_response_speed_differs_per_manager(warehouse):
    leads = warehouse.query("select manager_id, first_response_minutes from intermediate.int_lead_first_response")
    medians = leads.groupby("manager_id")["first_response_minutes"].median().dropna()
    assert len(medians) >= 3 and medians.max() > 5 * medians.min()
    within = warehouse.query("select sum(responded_within_sla) as n from marts.fct_response where period_grain = 'day'")
    assert within["n"].iloc[0] > 0


def test_the_sla_is_a_dbt_var_and_elapses_at_the_extraction_time(warehouse, tmp_path_factory):
    """With a week's SLA, leads of the last week not answered yet are neither within nor past it."""
    week = 7 * 24 * 60
    copy = warehouse.copy(tmp_path_factory.mktemp("response_sla"))
    copy.dbt("run", "--select", "int_lead_first_response", "fct_response",
             "--vars", json.dumps({"amocrm_response_sla_minutes": week}))
    expected = kpi_response.response(copy.reference(), sla_minutes=week)
    actual = copy.query("select * from marts.fct_response")
    assert_frames_match(actual, expected, ["period_grain", "period_start", "pipeline_id", "manager_id"],
                        approx=("responded_within_sla_share", "first_response_minutes_median",
                                "first_response_minutes_p90"))
    before = warehouse.query("select sum(responded_within_sla) as n from marts.fct_response")["n"].iloc[0]
    assert actual["responded_within_sla"].sum() > before
    # leads of the last week not answered yet (when the account has them) are matched by the reference
