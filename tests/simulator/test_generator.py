"""The generated account: deterministic, realistic, and internally consistent (truth vs events)."""

import time

import numpy as np
import pandas as pd
import pytest

from pipelines.simulator import SimulatedAccount

from sim_support import NOW

MSK = "Europe/Moscow"


def test_small_accounts_generate_fast():
    started = time.perf_counter()
    for seed in range(5):
        SimulatedAccount.generate(seed=seed, leads=500, now=NOW).truth().leads
    assert (time.perf_counter() - started) / 5 < 0.5


def test_same_seed_same_account_and_different_seed_differs():
    a = SimulatedAccount.generate(seed=3, leads=200, now=NOW).truth()
    b = SimulatedAccount.generate(seed=3, leads=200, now=NOW).truth()
    c = SimulatedAccount.generate(seed=4, leads=200, now=NOW).truth()
    for frame in ("leads", "status_history", "contacts", "companies", "tasks", "notes", "events", "lead_contacts"):
        pd.testing.assert_frame_equal(getattr(a, frame), getattr(b, frame))
    assert not a.leads[["price", "status_id", "created_at"]].equals(c.leads[["price", "status_id", "created_at"]])
    assert set(a.events.id).isdisjoint(c.events.id)


def test_leads_exist_up_to_now_and_the_timeline_goes_on(account):
    truth = account.truth()
    assert len(truth.leads) == 300
    assert truth.leads.created_at.max() <= NOW
    later = account.truth(at=NOW + 30 * 86_400)
    assert len(later.leads) > 300


def test_reference_data(account):
    truth = account.truth()
    assert truth.account["timezone"] == MSK and truth.account["currency"] == "RUB" and truth.account["language"] == "ru"
    assert 2 <= len(truth.pipelines) <= 3 and truth.pipelines.is_main.sum() == 1
    for _, statuses in truth.statuses.groupby("pipeline_id"):
        assert (statuses.type == 1).sum() == 1
        assert {142, 143} <= set(statuses.id)
        assert 3 <= len(statuses) - 3 <= 5
    assert truth.users.is_active.value_counts()[False] == 1
    assert truth.users.group_id.nunique() >= 2
    assert set(truth.task_types.code) >= {"FOLLOW_UP", "MEETING", "CALL"}
    assert dict(zip(truth.task_types.code, truth.task_types.id))["MEETING"] == 2
    fields = truth.custom_fields.set_index("name")
    assert fields.loc["utm_source", "entity_type"] == "leads"
    assert fields.loc["Оценка клиента", "type"] == "numeric"


def test_realistic_mix():
    truth = SimulatedAccount.generate(seed=5, leads=5000, now=NOW).truth()
    leads = truth.leads[~truth.leads.is_deleted]
    closed = leads[leads.status_id.isin([142, 143])]
    assert 0.2 <= (closed.status_id == 142).mean() <= 0.4
    won = closed[closed.status_id == 142]
    assert won.price.between(10_000, 2_000_000).mean() > 0.9 and (leads.price == 0).any()
    lost = closed[closed.status_id == 143]
    assert lost.loss_reason_id.notna().mean() > 0.7 and lost.loss_reason_id.isna().any()
    assert leads.utm_source.isna().any() and set(leads.utm_source.dropna()) == {"yandex", "google", "vk", "telegram", "referral"}
    assert leads[leads.utm_source.isna()].source_id.notna().any()
    assert truth.leads.is_deleted.mean() > 0.003
    assert leads.satisfaction.notna().any()
    history = truth.status_history
    moved = history.groupby("lead_id").pipeline_id.nunique()
    assert (moved > 1).sum() > 10
    closes = history[history.status_id.isin([142, 143])].groupby("lead_id").size()
    assert (closes > 1).sum() > 10  # closed, reopened, closed again
    events = truth.events
    assert (events.type == "nps_rate_added").sum() > 50
    notes = truth.notes
    calls = notes[notes.note_type.isin(["call_in", "call_out"])]
    durations = calls.params.map(lambda p: p["duration"])
    assert (durations == 0).any() and (durations > 0).mean() > 0.5
    mails = notes[notes.note_type == "amomail_message"].params.map(lambda p: p["income"])
    assert mails.any() and not mails.all()
    tasks = truth.tasks
    meetings = tasks[tasks.task_type_id == 2]
    assert meetings.is_completed.any() and (~meetings.is_completed & (meetings.complete_till < NOW)).any()


def test_month_end_wins_in_moscow_time(account):
    leads = account.truth().leads
    won = leads[(leads.status_id == 142) & ~leads.is_deleted]
    local = pd.to_datetime(won.closed_at.astype("int64"), unit="s", utc=True).dt.tz_convert(MSK)
    last_day_late = local.dt.is_month_end & (local.dt.hour == 23) & (local.dt.minute >= 30)
    first_day_early = (local.dt.day == 1) & (local.dt.hour == 0) & (local.dt.minute < 30)
    assert last_day_late.any() and first_day_early.any()
    # these fall into a different month in UTC than in Moscow time
    utc = pd.to_datetime(won.closed_at.astype("int64"), unit="s", utc=True)
    assert (utc[first_day_early].dt.month != local[first_day_early].dt.month).all()


def _lead_events(truth, *types):
    events = truth.events
    return events[(events.entity_type == "lead") & events.type.isin(types)]


def test_status_history_agrees_with_events_and_lead_state(account):
    truth = account.truth()
    history = truth.status_history.sort_values(["lead_id", "entered_at"], kind="stable")
    changes = _lead_events(truth, "lead_status_changed").sort_values(["entity_id", "created_at"], kind="stable")
    moves = history[history.duplicated("lead_id")]  # every row but the created-in status
    assert len(moves) == len(changes)
    assert list(moves.lead_id) == list(changes.entity_id)
    assert list(moves.entered_at) == list(changes.created_at)
    assert list(moves.status_id) == [v[0]["lead_status"]["id"] for v in changes.value_after]
    assert list(moves.pipeline_id) == [v[0]["lead_status"]["pipeline_id"] for v in changes.value_after]
    previous = history.groupby("lead_id").status_id.shift()
    assert list(previous[moves.index].astype(int)) == [v[0]["lead_status"]["id"] for v in changes.value_before]
    added = _lead_events(truth, "lead_added").set_index("entity_id").created_at
    leads = truth.leads.set_index("id")
    assert added.sort_index().equals(leads.created_at.sort_index().rename("created_at"))

    current = history[history.left_at.isna()].set_index("lead_id")
    assert (current.status_id == leads.status_id).all() and (current.pipeline_id == leads.pipeline_id).all()
    closed = leads.status_id.isin([142, 143])
    assert (leads.closed_at[closed] == current.entered_at[closed]).all()
    assert leads.closed_at[~closed].isna().all()
    reopened = history.groupby("lead_id").status_id.apply(lambda s: s.isin([142, 143]).any())
    reopened = reopened[reopened].index.intersection(leads.index[~closed])
    assert len(reopened) and leads.closed_at[reopened].isna().all()
    assert (leads.loss_reason_id[leads.status_id != 143].isna()).all()


def test_lead_fields_agree_with_their_change_events(account):
    truth = account.truth()
    leads = truth.leads.set_index("id")
    change_types = ("lead_added", "lead_status_changed", "sale_field_changed", "entity_responsible_changed",
                    "custom_field_value_changed", "lead_restored")
    last_change = _lead_events(truth, *change_types).groupby("entity_id").created_at.max()
    assert (leads.updated_at == last_change.reindex(leads.index)).all()

    prices = _lead_events(truth, "sale_field_changed").sort_values("created_at").groupby("entity_id").last()
    assert len(prices) and (leads.price[prices.index] == prices.value_after.map(lambda v: v[0]["sale_field_value"]["sale"])).all()
    owners = _lead_events(truth, "entity_responsible_changed").groupby("entity_id").last()
    assert len(owners) and (leads.responsible_user_id[owners.index]
                            == owners.value_after.map(lambda v: v[0]["responsible_user"]["id"])).all()
    trash = _lead_events(truth, "lead_deleted", "lead_restored").sort_values("created_at").groupby("entity_id").last()
    deleted = trash[trash.type == "lead_deleted"]
    assert set(leads.index[leads.is_deleted]) == set(deleted.index)
    assert (leads.deleted_at[deleted.index] == deleted.created_at).all()
    won_ever = set(truth.status_history[truth.status_history.status_id == 142].lead_id)
    assert set(_lead_events(truth, "nps_rate_added").entity_id) <= won_ever
    assert set(leads.index[leads.satisfaction.notna()]) <= won_ever
    rates = _lead_events(truth, "nps_rate_added").value_after.map(lambda v: v[0]["nps"]["rate"])
    assert rates.between(0, 10).all()


def test_activities_agree_with_events(account):
    truth = account.truth()
    events = truth.events
    notes = truth.notes.set_index("id")
    calls = notes[notes.note_type.isin(["call_in", "call_out"])]
    call_events = events[events.type.isin(["incoming_call", "outgoing_call"])].copy()
    call_events["note_id"] = call_events.value_after.map(lambda v: v[0]["note"]["id"])
    call_events = call_events.set_index("note_id").loc[calls.index]
    assert len(call_events) == len(calls)
    assert (call_events.created_at == calls.created_at).all() and (call_events.created_by == calls.created_by).all()
    assert ((call_events.type == "incoming_call") == (calls.note_type == "call_in")).all()
    assert (call_events.entity_id == calls.entity_id).all()

    tasks = truth.tasks.set_index("id")
    done = events[events.type == "task_completed"].set_index("entity_id")
    assert set(done.index) == set(tasks.index[tasks.is_completed])
    assert (tasks.updated_at[done.index] == done.created_at).all()
    assert tasks.result_text[tasks.is_completed].notna().all() and tasks.result_text[~tasks.is_completed].isna().all()
    assert set(events[events.type == "task_added"].entity_id) == set(tasks.index)
    assert set(truth.tasks.entity_type) <= {"leads", "contacts"}


def test_event_ids_are_time_sortable_ulids(account):
    events = account.truth().events
    assert events.id.str.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}").all()
    assert events.id.is_unique
    ordered = events.sort_values("id")
    assert ordered.created_at.is_monotonic_increasing


@pytest.mark.parametrize("entity", ["leads", "events", "notes_leads", "tasks", "contacts", "leads_deleted"])
def test_api_records_match_truth(account, entity):
    records = list(account.api_records(entity))
    truth = account.truth()
    frame = {"leads": truth.leads[~truth.leads.is_deleted], "events": truth.events,
             "notes_leads": truth.notes[truth.notes.entity_type == "lead"], "tasks": truth.tasks,
             "contacts": truth.contacts[~truth.contacts.is_deleted],
             "leads_deleted": truth.leads[truth.leads.is_deleted]}[entity]
    assert sorted(r["id"] for r in records) == sorted(frame.id)
    assert np.all([r["updated_at" if entity != "events" else "created_at"] <= NOW for r in records])
