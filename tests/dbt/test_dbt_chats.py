"""Chat messages as real accounts send them (issue 13, item 5), the model side.

The account has scenario `chat_robots` (robots' messages on leads and on customers' talks) and the
default live behaviour of chat events: a deleted lead's messages are served as events of its
contact. It is extracted twice (`FIRST_LOAD_DAYS_AGO` days ago, then now), so some messages of a
lead deleted in between were first read on the lead and some only on the contact. Every message
must be in int_activity_attribution with the reason it does not count, and fct_manager_activity
must equal the independent reference: robots never count, a deleted lead's chat never counts. A lead
deleted at the first load and restored after it can leave a talk known only by its contact: the
reference leaves its messages out (tests/known_gaps.py; test_dbt_fidelity shows the gap).
"""

from __future__ import annotations

import itertools
import time

import pandas as pd
import pytest

from kpi_reference import assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chats")]

FIRST_LOAD_DAYS_AGO = 45
LEADS = 500
DAY = 86_400


def _chat_account(now: int):
    """The first account from seed 31 on with user messages of a lead deleted before the first load
    (never seen on the lead), and of a lead deleted between the loads whose talk the first load saw on
    the lead and that wrote again before the deletion (served on the contact, found by the talk)."""
    from pipelines.simulator import SimulatedAccount

    first = now - FIRST_LOAD_DAYS_AGO * DAY
    for seed in itertools.count(31):
        account = SimulatedAccount.generate(seed=seed, leads=LEADS, now=now, scenarios={"chat_robots"})
        truth = account.truth()
        events = truth.events
        chat = events[events["type"].str.endswith("_chat_message") & events["talk_lead_id"].notna()]
        sent = chat[(chat["type"] == "outgoing_chat_message") & (chat["created_by"] > 0)]
        deleted_first = set(account.truth(first).leads.query("is_deleted")["id"])
        between = set(truth.leads.query("is_deleted")["id"]) - deleted_first
        seen = set(chat.loc[chat["created_at"] < first - DAY, "talk_lead_id"]) & between
        found_by_talk = set(sent.loc[sent["created_at"] > first, "talk_lead_id"]) & seen
        if found_by_talk and set(sent["talk_lead_id"]) & deleted_first:
            return account


@pytest.fixture(scope="module")
def chats(tmp_path_factory, build_kpi_warehouse):
    from pipelines.simulator import Simulator

    account = _chat_account(int(time.time()))
    with Simulator(account, rate_limit=None) as sim:
        # what the module reads and their tests only (the warning test among them): the other marts and
        # their tests are proven on other warehouses, and cost CPU
        yield build_kpi_warehouse(tmp_path_factory.mktemp("chats"), sim, check=False,
                                  first_load_at=account.now - FIRST_LOAD_DAYS_AGO * DAY,
                                  select=("+fct_manager_activity", "+int_activity_attribution", "+dim_managers"))


@pytest.fixture(scope="module")
def reference(chats):
    return chats.reference()


def _attribution(chats) -> pd.DataFrame:
    return chats.query("select * from intermediate.int_activity_attribution where activity_type = 'chat_message'")


def test_the_account_has_the_cases(chats):
    events = chats.truth.events
    sent = events[events["type"] == "outgoing_chat_message"]
    robots = sent[sent["created_by"] == 0]
    assert set(robots["entity_type"]) >= {"lead", "customer"}
    assert (sent[sent["created_by"] > 0]["entity_type"] == "contact").any()
    raw = chats.query("select * from raw_amocrm.events where type = 'outgoing_chat_message'")
    assert raw["talk_id"].notna().all() and raw["message_origin"].notna().all()
    assert raw.loc[raw["entity_type"] == "lead", "linked_talk_contact_id"].notna().all()


def test_dbt_build_passes(chats):
    assert chats.build_result.returncode == 0, chats.build_result.stdout[-4000:]


def test_manager_activity_matches_reference(chats, reference):
    assert_mart_matches(chats.query("select * from marts.fct_manager_activity"), reference, "fct_manager_activity")


def test_every_message_is_attributed_or_excluded_with_a_reason(chats):
    raw = chats.query("select id, entity_type, created_by from raw_amocrm.events where type = 'outgoing_chat_message'")
    rows = _attribution(chats).set_index("activity_id")
    assert sorted(rows.index) == sorted("event:" + raw["id"])
    assert (rows["is_counted"] == rows["exclusion_reason"].isna()).all()
    assert rows.loc[rows["is_counted"], "manager_id"].notna().all()
    robots = "event:" + raw.loc[raw["created_by"] == 0, "id"]
    assert len(robots) and (rows.loc[robots, "exclusion_reason"] == "robot_message").all()
    assert rows.loc[~rows.index.isin(robots), "exclusion_reason"].ne("robot_message").all()


def test_a_deleted_leads_chat_never_counts(chats):
    """Served on the contact, it goes back to its lead by the talk when the warehouse saw the talk on
    the lead (deleted_lead), else it is excluded as talk_lead_unknown (and a warning test says so)."""
    truth = chats.truth.events.set_index("id")
    deleted = set(chats.truth.leads.query("is_deleted")["id"])
    rows = _attribution(chats)
    rows["talk_lead_id"] = truth.loc[rows["activity_id"].str.removeprefix("event:"), "talk_lead_id"].to_numpy()
    of_deleted = rows[rows["talk_lead_id"].isin(deleted)]
    assert not of_deleted["is_counted"].any()
    users = of_deleted[of_deleted["exclusion_reason"] != "robot_message"]
    assert set(users["exclusion_reason"]) == {"deleted_lead", "talk_lead_unknown"}
    resolved = users[users["entity_type"] == "contact"]
    assert (resolved["exclusion_reason"] == "deleted_lead").any(), "some went back to their lead by the talk"
    assert (resolved.loc[resolved["exclusion_reason"] == "deleted_lead", "lead_id"]
            == resolved.loc[resolved["exclusion_reason"] == "deleted_lead", "talk_lead_id"]).all()
    warned = "column_warnings_int_activity_attribution" in chats.build_result.stdout  # its warnings in one test
    assert warned and "WARN" in chats.build_result.stdout
    from pipelines.defs.broken_rules import broken_rules

    described = broken_rules(chats.data_dir / "dbt_target", chats.path, "column_warnings_int_activity_attribution")
    unknown = (rows["exclusion_reason"] == "talk_lead_unknown").sum()
    assert described.startswith("column_warnings_int_activity_attribution warns: "), described
    assert f"expression on activity_attribution_no_unknown_talks ({unknown} row" in described, described
