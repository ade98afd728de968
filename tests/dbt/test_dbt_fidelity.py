"""Cases of real accounts the default simulated account does not have (issue 13, the model side).

One warehouse is built (simulator over HTTP -> dlt -> dbt build) from a small account with every
opt-in scenario of pipelines/simulator/scenarios.py: default-group users sent with `group_id: null`,
a pipeline stage deleted while history still names it, NPS ratings on contacts and customers,
deleted tasks and notes, records deleted before the first extraction and restored before the second
without a change of `updated_at`, and leads and a contact merged away into duplicates. The marts must equal the independent reference (kpi_reference) there too.
"""

from __future__ import annotations

import time

import pytest

from known_gaps import chats_read_only_on_a_contact, loads_of
from kpi_reference import MARTS, assert_frames_match, assert_mart_matches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fidelity")]

SCENARIOS = {"default_group_null", "deleted_stage", "contact_nps", "deleted_activities", "silent_restore", "merges"}
FIRST_LOAD_DAYS_AGO = 60


@pytest.fixture(scope="module")
def fidelity(tmp_path_factory, build_kpi_warehouse):
    """The warehouse, built even when `dbt build` fails (`.build_result`), so each test says what is wrong.

    The account is first extracted as it was `FIRST_LOAD_DAYS_AGO` days ago, then again now: tasks and
    notes deleted in between were loaded while they existed, and then left amoCRM's lists.
    """
    from pipelines.simulator import Simulator

    account = _account_with_the_known_gap(int(time.time()))
    with Simulator(account, rate_limit=None) as sim:
        yield build_kpi_warehouse(tmp_path_factory.mktemp("fidelity"), sim, check=False,
                                  first_load_at=account.now - FIRST_LOAD_DAYS_AGO * 86_400)


def _account_with_the_known_gap(now: int):
    """The account of the first seed from 21 (generated at `now`, the wall clock, as the dlt loads are) whose
    chats have a message of the known gap (tests/known_gaps.py): the accounts differ with `now`, and one
    without such a message left its xfail test nothing to show (it skipped, hiding the gap)."""
    from pipelines.simulator import SimulatedAccount

    load_times = [now - FIRST_LOAD_DAYS_AGO * 86_400, now]  # as the `fidelity` fixture extracts it
    for seed in range(21, 51):
        account = SimulatedAccount.generate(seed=seed, leads=250, now=now, scenarios=SCENARIOS)
        if not chats_read_only_on_a_contact(account.truth().events, loads_of(account, load_times)).empty:
            return account
    raise AssertionError(f"no seed from 21 to 50 has a chat message of the known gap at {now}: widen the search")


@pytest.fixture(scope="module")
def reference(fidelity):
    """The reference without the chat messages of the known gap (`Warehouse.reference()`), so every
    other figure is still compared."""
    return fidelity.reference()


def unattributable_chats(fidelity):
    """The managers' chat messages of the known gap in this warehouse (tests/known_gaps.py)."""
    return chats_read_only_on_a_contact(fidelity.truth.events, fidelity.loads)


def test_the_scenarios_are_in_the_account(fidelity):
    truth = fidelity.truth
    events = truth.events
    nps = events[events["type"] == "nps_rate_added"]
    assert set(nps["entity_type"]) == {"lead", "contact", "customer"}
    assert truth.tasks["is_deleted"].sum() > 0 and truth.notes["is_deleted"].sum() > 0
    assert len(fidelity.query("select * from raw_amocrm.users where group_id is null")) > 0
    listed = set(zip(truth.statuses["pipeline_id"], truth.statuses["id"]))
    named = set(zip(truth.status_history["pipeline_id"], truth.status_history["status_id"]))
    assert named - listed, "the status history names a status no longer listed"


def test_dbt_build_passes(fidelity):
    result = fidelity.build_result
    assert result.returncode == 0, result.stdout[-4000:]


def test_default_group_managers_have_their_team(fidelity):
    truth = fidelity.truth
    managers = fidelity.query("select manager_id, group_id, group_name from marts.dim_managers")
    groups = dict(zip(truth.groups["id"], truth.groups["name"]))
    expected = truth.users[["id", "group_id"]].rename(columns={"id": "manager_id"})
    expected["group_name"] = expected["group_id"].map(groups)
    assert (expected["group_id"] == 0).any()
    assert_frames_match(managers, expected, ["manager_id"])


def test_deals_of_default_group_managers_have_their_team(fidelity, reference):
    leads = fidelity.query("select lead_id, group_id from marts.fct_leads where not is_deleted")
    expected = reference.leads.loc[~reference.leads["is_deleted"].astype(bool), ["lead_id", "group_id"]]
    assert (expected["group_id"] == 0).any()
    assert_frames_match(leads, expected, ["lead_id"])


def test_a_deleted_stage_is_kept_flagged_and_in_its_place(fidelity, reference):
    stages = fidelity.query("select pipeline_id, status_id, stage_order, is_deleted from marts.dim_pipeline_stages "
                            "where stage_order is not null")
    expected = reference.stages[["pipeline_id", "status_id", "stage_order", "is_deleted"]]
    assert expected["is_deleted"].sum() == 1
    assert_frames_match(stages, expected, ["pipeline_id", "status_id"])
    # it is back where it was in amoCRM: right after the stage before it
    (pipeline, status, _), = fidelity.sim.account.timeline.deleted_statuses
    order = stages.set_index(["pipeline_id", "status_id"])["stage_order"]
    assert order[(pipeline, status)] == order[(pipeline, status - 1)] + 1
    history = fidelity.query(
        "select history.pipeline_id, history.status_id from intermediate.int_lead_status_history as history "
        "anti join marts.dim_pipeline_stages as stages using (pipeline_id, status_id)")
    assert history.empty, "every status the history names is a stage"


def test_deleted_tasks_and_notes_do_not_count(fidelity, reference):
    truth = fidelity.truth
    for table, frame in (("tasks", truth.tasks), ("notes", truth.notes)):
        deleted = ",".join(map(str, frame.loc[frame["is_deleted"].astype(bool), "id"]))
        assert len(fidelity.query(f"select id from raw_amocrm.{table} where id in ({deleted})")), \
            f"the warehouse holds deleted {table} (loaded before they were deleted)"
    assert_mart_matches(fidelity.query("select * from marts.fct_manager_activity"), reference, "fct_manager_activity")


def test_nps_on_contacts_and_customers_counts(fidelity, reference):
    actual = fidelity.query("select * from marts.fct_satisfaction")
    assert actual["manager_id"].isna().any(), "customers' ratings count, for no manager"
    assert_mart_matches(actual, reference, "fct_satisfaction")


def silently_restored(timeline) -> dict[str, list[int]]:
    """Ids (per raw table) of the records scenario `silent_restore` deletes and restores."""
    from pipelines.simulator import reference as ref
    from pipelines.simulator.scenarios import SILENT_RESTORED_DAYS_AGO

    restored_at = timeline.now - SILENT_RESTORED_DAYS_AGO * 86_400
    out = {}
    for table, log, base in (("leads", timeline.lead_trash, ref.LEAD_ID_BASE),
                             ("contacts", timeline.contact_trash, ref.CONTACT_ID_BASE),
                             ("companies", timeline.company_trash, ref.COMPANY_ID_BASE)):
        rows = (log.time == restored_at) & ~log["deleted"].astype(bool)
        out[table] = sorted(base + int(e) for e in log.entity[rows])
    return out


def test_records_restored_after_deleted_before_the_first_load_are_complete(fidelity, reference):
    """Deleted before the first extraction (known then only from the trash view), restored before the
    second without a change of `updated_at`: the second extraction fetches them by id, whole."""
    restored = silently_restored(fidelity.sim.account.timeline)
    assert [len(ids) for ids in restored.values()] == [2, 1, 1]
    entity = {"leads": "lead", "contacts": "contact", "companies": "company"}
    for table, ids in restored.items():
        id_list = ",".join(map(str, ids))
        in_trash = fidelity.query(f"select id from raw_amocrm.deletions where entity_type = '{entity[table]}' "
                                  f"and id in ({id_list})")
        assert sorted(in_trash["id"]) == ids, f"the first extraction saw the {table} in the trash"
        rows = fidelity.query(f"select id, name, created_at, updated_at, is_deleted from raw_amocrm.{table} "
                              f"where id in ({id_list}) order by id")
        assert list(rows["id"]) == ids
        assert not rows["is_deleted"].any(), f"restored {table} are live"
        assert rows[["name", "created_at", "updated_at"]].notna().all().all(), f"restored {table} are whole:\n{rows}"
    leads = fidelity.query(f"select * from marts.fct_leads where lead_id in ({','.join(map(str, restored['leads']))})")
    expected = reference.leads[reference.leads["lead_id"].isin(restored["leads"])]
    assert len(expected) == 2 and not expected["is_deleted"].astype(bool).any()
    columns = ["lead_id", "pipeline_id", "status_id", "manager_id", "group_id", "price", "created_date",
               "closed_date", "is_won", "is_lost", "is_deleted", "channel"]
    assert_frames_match(leads, expected[columns], ["lead_id"])


def test_records_merged_away_are_deleted(fidelity, reference):
    """A merge leaves one record: the merged-away lead or contact (named by an `entity_merged` event, never
    in the trash view) is flagged deleted, whether it was loaded while live or never seen (a stub), and
    counts nowhere (neither it nor the activity on it)."""
    from pipelines.simulator import reference as ref

    tl = fidelity.sim.account.timeline
    merged = {table: sorted(base + int(e) for e in log.entity[log["merged"].astype(bool)])
              for table, log, base in (("leads", tl.lead_trash, ref.LEAD_ID_BASE),
                                       ("contacts", tl.contact_trash, ref.CONTACT_ID_BASE))}
    assert [len(ids) for ids in merged.values()] == [2, 2]
    for table, ids in merged.items():
        id_list = ",".join(map(str, ids))
        assert fidelity.query(f"select id from raw_amocrm.deletions where id in ({id_list})").empty, "not in the trash"
        rows = fidelity.query(f"select id, created_at, is_deleted, deleted_at from raw_amocrm.{table} "
                              f"where id in ({id_list})")
        assert sorted(rows["id"]) == ids, f"every merged-away {table[:-1]} is kept"
        assert rows["created_at"].notna().any(), f"one of the {table} was loaded while it was live"
        assert rows["is_deleted"].all() and rows["deleted_at"].notna().all(), f"merged-away {table} are deleted"
    leads = fidelity.query(f"select lead_id, is_deleted from marts.fct_leads where lead_id in "
                           f"({','.join(map(str, merged['leads']))})")
    assert leads["is_deleted"].all()
    assert reference.leads.loc[reference.leads["lead_id"].isin(merged["leads"]), "is_deleted"].astype(bool).all()
    for table in ("fct_sales_kpi", "fct_manager_activity"):
        assert_mart_matches(fidelity.query(f"select * from marts.{table}"), reference, table)


@pytest.mark.parametrize("table", MARTS)
def test_mart_matches_reference(fidelity, reference, table):
    assert_mart_matches(fidelity.query(f"select * from marts.{table}"), reference, table)


@pytest.mark.xfail(strict=True, reason="known gap: chat messages of a lead restored after the first extraction, "
                   "read only on its contact, are excluded (talk_lead_unknown) until the talks API is read")
def test_chats_of_a_lead_restored_after_the_first_load_count(fidelity):
    assert not unattributable_chats(fidelity).empty, "the account was chosen to have such messages"
    assert_mart_matches(fidelity.query("select * from marts.fct_manager_activity"),
                        fidelity.reference(include_known_gaps=True), "fct_manager_activity")
