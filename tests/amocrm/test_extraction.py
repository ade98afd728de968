"""The extractor against the simulator over real HTTP: full load, incremental runs, deletions, odd servers."""

from __future__ import annotations

import duckdb
import pytest

from amocrm_checks import NOW, assert_matches_truth, extract, incremental_rows, table
from pipelines import paths
from pipelines.amocrm.source import COLUMNS, NESTED

DESIGN_TABLES = [
    "account", "task_types", "user_groups", "users", "pipelines", "pipeline_statuses", "loss_reasons",
    "custom_fields", "custom_fields__enums", "leads", "leads__custom_field_values", "leads__tags", "leads__contacts",
    "contacts", "contacts__custom_field_values", "contacts__tags", "companies", "companies__custom_field_values",
    "companies__tags", "events", "notes", "tasks", "deletions",
]


def test_full_load_equals_truth(sim):
    summary = extract(sim)
    truth = sim.truth()
    assert_matches_truth(truth)

    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        columns = {(t, c) for t, c in con.sql("SELECT table_name, column_name FROM information_schema.columns "
                                              "WHERE table_schema = 'raw_amocrm'").fetchall()}
    for name in DESIGN_TABLES:  # every table and column of design §3 exists, with or without rows
        root, _, child = name.partition("__")
        declared = NESTED[root][child]["columns"] if child else COLUMNS[name]
        assert {(name, c) for c in declared} <= columns, name

    assert table("account").iloc[0][["id", "currency", "timezone", "language"]].tolist() == [
        truth.account["id"], "RUB", "Europe/Moscow", "ru"]
    assert sorted(table("users")["id"]) == sorted(truth.users["id"])
    assert sorted(zip(table("user_groups")["id"], table("user_groups")["name"])) == sorted(
        zip(truth.groups["id"], truth.groups["name"]))
    assert sorted(table("task_types")["code"]) == sorted(truth.task_types["code"])
    statuses = table("pipeline_statuses")
    assert sorted(zip(statuses.pipeline_id, statuses.id, statuses.type, statuses.name)) == sorted(
        zip(truth.statuses.pipeline_id, truth.statuses.id, truth.statuses.type, truth.statuses.name))
    assert sorted(table("loss_reasons")["id"]) == sorted(truth.loss_reasons["id"])
    assert sorted(table("custom_fields")["id"]) == sorted(truth.custom_fields["id"])
    assert len(table("custom_fields__enums")) == sum(len(e) for e in truth.custom_fields["enums"])
    assert summary.rows["leads"] == (truth.leads["is_deleted"] == False).sum()  # noqa: E712
    assert summary.requests > 0 and summary.retries == 0
    assert summary.new_fields == {}  # everything the API sends is documented


def test_documented_shapes_load_like_the_live_ones(data_dir):
    """The default account serves live shapes (pipelines/simulator/shapes.py); the documented ones load too."""
    from pipelines.simulator import SimulatedAccount, Simulator

    account = SimulatedAccount.generate(seed=11, leads=120, now=NOW, horizon_days=60, shapes="documented")
    with Simulator(account, rate_limit=None) as documented:
        summary = extract(documented)
        assert_matches_truth(documented.truth())
    assert summary.new_fields == {}


def test_fields_new_in_the_api_are_reported_and_the_load_goes_on(sim, caplog):
    sim.faults.add_fields("/api/v4/leads", is_price_modified_by_robot=False, ai_score={"value": 7})
    sim.faults.add_fields("/api/v4/tasks", priority=2)
    summary = extract(sim)
    assert summary.new_fields == {"leads": ["ai_score"], "tasks": ["priority"]}  # documented ones are not news
    assert "fields amoCRM sent that are not loaded (new in the API?): leads: ai_score; tasks: priority" in summary.format()
    warnings = sorted(r.getMessage() for r in caplog.records if "does not load" in r.getMessage())
    assert warnings == [f"amoCRM sends {name} fields the extractor does not load: {field} "
                        "(new in the API? see pipelines/amocrm/records.py)"
                        for name, field in (("leads", "ai_score"), ("tasks", "priority"))]  # once each
    assert_matches_truth(sim.truth())


def _window_with_deletion_and_restore(truth, days: int = 40) -> tuple[int, int]:
    """(start, end) of a stretch of history that holds lead deletions and a lead restore."""
    events = truth.events
    deleted = events[events["type"] == "lead_deleted"]["created_at"]
    for restore in events[events["type"] == "lead_restored"]["created_at"]:
        if ((deleted > restore - days * 86_400) & (deleted < restore)).any():
            return int(restore) - days * 86_400, int(restore) + 86_400
    pytest.fail("this account has no lead restore after a deletion")


@pytest.fixture
def account():
    from pipelines.simulator import SimulatedAccount

    return SimulatedAccount.generate(seed=8, leads=300, now=NOW, horizon_days=60)


def test_incremental_run_brings_exactly_the_changes(sim):
    before, after = _window_with_deletion_and_restore(sim.truth())
    sim.clock.set(before)
    extract(sim)
    sim.clock.set(after)
    truth = sim.truth()
    changed_leads = truth.leads[(truth.leads["updated_at"] > before) & ~truth.leads["is_deleted"]]
    kinds = set(truth.events[truth.events["created_at"] > before]["type"])
    assert {"lead_deleted", "lead_restored"} <= kinds  # the window holds deletions and restores

    summary = extract(sim)
    rows = incremental_rows(summary)
    assert rows["leads"] == len(changed_leads)
    assert rows["events"] == (truth.events["created_at"] > before).sum()
    assert rows.get("notes", 0) == (truth.notes["updated_at"] > before).sum()
    assert rows.get("tasks", 0) == (truth.tasks["updated_at"] > before).sum()
    assert rows.get("contacts", 0) == (truth.contacts["updated_at"].gt(before) & ~truth.contacts["is_deleted"]).sum()
    trash = sum((getattr(truth, e)["deleted_at"] > before).sum() for e in ("leads", "contacts", "companies"))
    assert rows.get("deletions", 0) == trash
    assert_matches_truth(truth, stale_links=True)

    assert incremental_rows(extract(sim)) == {}  # nothing changed since: nothing loaded


def test_rerun_without_changes_loads_zero_rows(sim):
    # one worker, so that the request counts are the same from run to run: pages read side by side may
    # spend up to workers - 1 requests past a list's end, depending on timing (31-33 of 65 with three)
    first = extract(sim, workers=1)
    again = extract(sim, workers=1)
    assert incremental_rows(again) == {}
    assert again.requests < first.requests / 2
    assert_matches_truth(sim.truth())


def test_deletions_and_restores_are_applied_run_by_run(sim):
    before, after = _window_with_deletion_and_restore(sim.truth())
    sim.clock.set(before)
    extract(sim)
    while sim.clock.now < after:  # a schedule: a run a week (six runs; every few days cost a minute of CI more)
        sim.clock.set(min(after, sim.clock.now + 7 * 86_400))
        extract(sim)
        assert_matches_truth(sim.truth(), stale_links=True)
    leads = table("leads").set_index("id")
    events = sim.truth().events
    restored = events[(events["type"] == "lead_restored") & (events["created_at"] > before)]["entity_id"]
    assert len(restored) and not leads.loc[list(restored), "is_deleted"].any()
    deleted = sim.truth().leads.query("is_deleted")["id"]
    assert len(deleted) and leads.loc[list(deleted), "is_deleted"].all()


def test_mutations_while_paging_lose_nothing(sim):
    sim.faults.mutate_while_paging = True
    extract(sim, page_size=50)
    assert sim.faults.mutated  # the server did change rows under the scan
    loaded = set(table("leads")["id"])
    truth = sim.truth()
    assert set(truth.leads["id"]) <= loaded
    sim.faults.mutate_while_paging = False
    extract(sim, page_size=50)
    assert_matches_truth(sim.truth())


def test_server_ignoring_filters_is_still_correct(sim):
    extract(sim)
    sim.clock.advance(days=10)
    sim.faults.ignore_filters = True
    sim.faults.next_always = True
    summary = extract(sim)
    assert summary.fallback  # it noticed, and read in full instead of trusting the filter
    assert summary.outside_window > 0
    assert_matches_truth(sim.truth(), stale_links=True)
    assert incremental_rows(extract(sim)) == {}


def test_next_link_on_short_pages_ends_cleanly(sim):
    sim.faults.next_always = True
    extract(sim)
    assert_matches_truth(sim.truth())


def test_events_limit_clamped_by_server(account, data_dir):
    from pipelines.simulator import Simulator

    with Simulator(account, rate_limit=None, events_max_limit=100) as sim:
        extract(sim, events_page_size=250)
        assert_matches_truth(sim.truth())


def test_every_declared_table_exists_even_when_a_resource_has_no_rows(data_dir):
    """An account where nothing was ever deleted: `deletions` gets no rows, its table must exist all
    the same (dbt staging selects from it); a later load into it still works."""
    from pipelines.simulator import SimulatedAccount, Simulator

    account = SimulatedAccount.generate(seed=21, leads=80, now=NOW, horizon_days=60)  # first deletion within 30 days
    truth = account.truth(at=NOW)
    assert not (truth.leads.is_deleted.any() or truth.contacts.is_deleted.any() or truth.companies.is_deleted.any())
    with Simulator(account, rate_limit=None) as sim:
        extract(sim)
        with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
            tables = {t for (t,) in con.sql("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'raw_amocrm'").fetchall()}
        assert set(DESIGN_TABLES) <= tables
        assert table("deletions").empty
        sim.clock.advance(days=30)
        assert sim.truth().leads.is_deleted.any()
        extract(sim)
        assert not table("deletions").empty
        truth = sim.truth().leads
        leads = table("leads").set_index("id")
        deleted = sorted(truth.loc[truth.is_deleted, "id"])
        assert sorted(leads.index[leads.is_deleted.astype(bool)]) == deleted
