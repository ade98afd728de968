"""The opt-in real-account scenarios (pipelines/simulator/scenarios.py), as the HTTP API shows them."""

import numpy as np
import pytest
from sim_support import NOW, Client

from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator import reference as ref
from pipelines.simulator.scenarios import (
    DELETED_STAGE_DAYS_AGO, NAMES, PURGED_DAYS_AGO, PURGED_LEADS, SILENT_DELETED_DAYS_AGO, SILENT_RESTORED_DAYS_AGO,
)


@pytest.fixture(scope="module")
def scenario_account():
    return SimulatedAccount.generate(seed=7, leads=300, now=NOW, scenarios=NAMES)


@pytest.fixture
def client(scenario_account):
    with Simulator(scenario_account, rate_limit=None) as running:
        yield Client(running)


CHAT_ROBOT_COLUMNS = ("created_by", "kind", "entity", "talk")


def test_scenarios_draw_from_their_own_random_stream():
    """Turning on scenarios that add no status rows or notes changes nothing else: the default account stays."""
    plain = SimulatedAccount.generate(seed=7, leads=300, now=NOW).timeline
    changed = SimulatedAccount.generate(seed=7, leads=300, now=NOW,
                                        scenarios=NAMES - {"deleted_stage", "first_response"}).timeline
    for name in ("leads", "notes", "tasks", "chats"):
        for column, values in getattr(plain, name).items():
            if column != "deleted_at" and not (name == "chats" and column in CHAT_ROBOT_COLUMNS):
                assert np.array_equal(values, getattr(changed, name)[column]), (name, column)
    robots = plain.chats["created_by"] != changed.chats["created_by"]  # chat_robots: only senders and talks change
    assert robots.any() and (changed.chats["created_by"][robots] == 0).all() and plain.chats["outgoing"][robots].all()
    for column in ("lead", "time", "rate"):
        assert np.array_equal(plain.nps[column], changed.nps[column])
    assert (plain.tasks["deleted_at"] > plain.end).all() and (changed.tasks["deleted_at"] <= changed.end).any()


def test_first_response_adds_first_touches_at_each_managers_pace():
    """The default notes stay; most leads get one more outgoing note soon after creation, a manager's
    delays around their own median, some on the lead's contact, some e-mails, some leads none."""
    from pipelines.simulator.activity import CALL_OUT, CONTACT, MAIL

    plain = SimulatedAccount.generate(seed=7, leads=300, now=NOW).timeline
    changed = SimulatedAccount.generate(seed=7, leads=300, now=NOW, scenarios={"first_response"}).timeline
    key = ("lead", "created", "type", "entity")
    before = set(zip(*(plain.notes[c].tolist() for c in key)))
    after = list(zip(*(changed.notes[c].tolist() for c in key)))
    assert before <= set(after)
    added = np.array([row not in before for row in after])
    notes = {name: values[added] for name, values in changed.notes.items()}
    system = notes["created_by"] == 0  # automatic e-mails, sent by the system a minute after creation
    assert system.any() and (notes["type"][system] == MAIL).all()
    assert 0.6 * len(plain.leads["created"]) < (~system).sum() < len(plain.leads["created"])
    notes = {name: values[~system] for name, values in notes.items()}
    assert np.isin(notes["type"], [CALL_OUT, MAIL]).all() and notes["outgoing"].all()
    assert (notes["type"] == MAIL).any() and (notes["kind"] == CONTACT).any()
    minutes = (notes["created"] - plain.leads["created"][notes["lead"]]) / 60
    medians = {user: np.median(minutes[notes["created_by"] == user]) for user in np.unique(notes["created_by"])}
    assert len(medians) >= 3 and max(medians.values()) > 5 * min(medians.values())


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="unknown scenarios"):
        SimulatedAccount.generate(seed=7, leads=10, now=NOW, scenarios={"no_such_case"})


def test_default_group_users_have_a_null_group(client, scenario_account):
    users = client.all("/api/v4/users", "users")
    groups = {u["id"]: u["rights"]["group_id"] for u in users}
    truth = scenario_account.truth().users
    for user in truth.itertuples():
        assert groups[user.id] == (None if user.group_id == 0 else user.group_id)
    account = client.get("/api/v4/account", **{"with": "users_groups"}).json()
    assert 0 in {g["id"] for g in account["_embedded"]["users_groups"]}


def test_a_deleted_stage_leaves_the_status_list_but_not_the_history(client, scenario_account):
    (pipeline, status, deleted_at), = scenario_account.timeline.deleted_statuses
    assert deleted_at == NOW - DELETED_STAGE_DAYS_AGO * 86_400
    listed = {s["id"] for s in client.get(f"/api/v4/leads/pipelines/{pipeline}/statuses").json()["_embedded"]["statuses"]}
    assert status not in listed and status - 1 in listed
    events = client.all("/api/v4/events", "events", **{"filter[type]": "lead_status_changed"})
    into = [e["created_at"] for e in events if e["value_after"][0]["lead_status"]["id"] == status]
    out_of = [e for e in events if e["value_before"][0]["lead_status"]["id"] == status]
    assert into and max(into) < deleted_at, "no lead enters a deleted stage"
    moved = [e for e in out_of if e["created_at"] == deleted_at]
    assert moved and all(e["value_after"][0]["lead_status"]["id"] == status - 1 for e in moved)


def test_nps_on_contacts_and_customers(client):
    events = client.all("/api/v4/events", "events", **{"filter[type]": "nps_rate_added"})
    assert {e["entity_type"] for e in events} == {"lead", "contact", "customer"}
    assert all(0 <= e["value_after"][0]["nps"]["rate"] <= 10 for e in events)


def test_deleted_tasks_and_notes_leave_the_lists_with_an_event(client, scenario_account):
    truth = scenario_account.truth()
    deleted_tasks = set(truth.tasks.loc[truth.tasks["is_deleted"], "id"])
    deleted_notes = set(truth.notes.loc[truth.notes["is_deleted"], "id"])
    assert deleted_tasks and deleted_notes
    assert not deleted_tasks & {t["id"] for t in client.all("/api/v4/tasks", "tasks")}
    assert not deleted_notes & {n["id"] for n in client.all("/api/v4/leads/notes", "notes")}
    assert client.get(f"/api/v4/tasks/{min(deleted_tasks)}").status_code == 204
    events = client.all("/api/v4/events", "events", **{"filter[type]": "task_deleted,common_note_deleted"})
    assert {e["entity_id"] for e in events if e["type"] == "task_deleted"} == deleted_tasks
    assert {e["value_after"][0]["note"]["id"] for e in events if e["type"] == "common_note_deleted"} == deleted_notes


def test_silent_restores_leave_updated_at_and_are_found_by_id(client, scenario_account):
    """Planted: deleted SILENT_DELETED_DAYS_AGO, restored SILENT_RESTORED_DAYS_AGO days ago, and the
    restore changes no `updated_at`; `filter[id][]` finds them (the only way a reader gets them back)."""
    tl, day = scenario_account.timeline, 86_400
    deleted_at, restored_at = NOW - SILENT_DELETED_DAYS_AGO * day, NOW - SILENT_RESTORED_DAYS_AGO * day
    for path, entity, log, base in (("leads", "lead", tl.lead_trash, ref.LEAD_ID_BASE),
                                    ("contacts", "contact", tl.contact_trash, ref.CONTACT_ID_BASE),
                                    ("companies", "company", tl.company_trash, ref.COMPANY_ID_BASE)):
        back = log.entity[(log.time == restored_at) & ~log["deleted"].astype(bool)]
        assert len(back) == (2 if path == "leads" else 1), path
        ids = [base + int(e) for e in back]
        found = client.all(f"/api/v4/{path}", path, **{"filter[id][]": ids})
        assert sorted(item["id"] for item in found) == ids
        assert all(item["updated_at"] < deleted_at for item in found), "the restore left updated_at"
        trash = {item["id"] for item in client.all(f"/api/v4/{path}", path, **{"with": "only_deleted"})}
        assert not set(ids) & trash, "restored, out of the trash"
        events = client.all("/api/v4/events", "events", **{"filter[type]": f"{entity}_restored"})
        assert set(ids) <= {e["entity_id"] for e in events}


def test_merged_away_records_leave_the_lists_but_not_into_the_trash(client, scenario_account):
    """Scenario `merges`: the record merged away is gone from its list and from `GET /{entity}/{id}`, is
    not in the trash view, and an `entity_merged` event (empty values) names it."""
    tl = scenario_account.timeline
    events = client.all("/api/v4/events", "events", **{"filter[type]": "entity_merged"})
    for path, entity, log, base in (("leads", "lead", tl.lead_trash, ref.LEAD_ID_BASE),
                                    ("contacts", "contact", tl.contact_trash, ref.CONTACT_ID_BASE)):
        ids = sorted(base + int(e) for e in log.entity[log["merged"].astype(bool)])
        assert len(ids) == 2, path
        assert not set(ids) & {item["id"] for item in client.all(f"/api/v4/{path}", path)}
        assert not set(ids) & {item["id"] for item in client.all(f"/api/v4/{path}", path, **{"with": "only_deleted"})}
        assert client.get(f"/api/v4/{path}/{ids[0]}").status_code == 204
        named = sorted(e["entity_id"] for e in events if e["entity_type"] == entity)
        assert named == ids
        assert all(e["value_after"] == [] and e["value_before"] == [] for e in events)


def test_purged_records_vanish_without_a_trace(client, scenario_account):
    """Scenario `purges`: gone from the list and from `GET /{entity}/{id}`, not in the trash view, no event
    names them, and the truth has them deleted at the purge."""
    truth, at = scenario_account.truth(), NOW - PURGED_DAYS_AGO * 86_400
    events = client.all("/api/v4/events", "events")
    for path, frame, count in (("leads", truth.leads, PURGED_LEADS), ("contacts", truth.contacts, 1),
                               ("companies", truth.companies, 1)):
        ids = sorted(int(i) for i in frame.loc[frame["deleted_at"] == at, "id"])
        assert len(ids) == count, path
        assert frame.set_index("id").loc[ids, "is_deleted"].all(), path
        assert not set(ids) & {item["id"] for item in client.all(f"/api/v4/{path}", path)}
        assert not set(ids) & {item["id"] for item in client.all(f"/api/v4/{path}", path, **{"with": "only_deleted"})}
        assert client.get(f"/api/v4/{path}/{ids[0]}").status_code == 204
        assert not set(ids) & {e["entity_id"] for e in events if e["created_at"] == at}


def test_hide_records_leaves_the_lowest_live_ids_out(client):
    """Fault `hide_records`: a token whose user may not see every record gets shorter lists, no error."""
    everything = [item["id"] for item in client.all("/api/v4/companies", "companies")]
    client.sim.faults.hide_records(3, "companies")
    hidden = sorted(everything)[:3]
    shown = [item["id"] for item in client.all("/api/v4/companies", "companies")]
    assert sorted(shown) == sorted(everything)[3:]
    assert client.get(f"/api/v4/companies/{hidden[0]}").status_code == 204
    assert client.get(f"/api/v4/companies/{shown[0]}").status_code == 200
    client.sim.faults.reset()
    assert len(client.all("/api/v4/companies", "companies")) == len(everything)
