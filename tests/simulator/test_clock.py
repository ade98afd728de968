"""Time moves on: after the clock advances, a second extraction sees exactly what changed."""

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import requests
from sim_support import NOW, Client, without_item_queries

from pipelines.simulator import SimulatedAccount, Simulator


def _ids(items):
    return sorted(item["id"] for item in items)


@pytest.fixture(scope="module")
def advanced():
    """A served account read at NOW, then 30 days later: (client, served-before, truth-before, truth-after)."""
    with Simulator(SimulatedAccount.generate(seed=21, leads=3000, now=NOW), rate_limit=None) as sim:
        client = Client(sim)
        served = {lead["id"]: lead for lead in client.all("/api/v4/leads", "leads", limit=250)}
        before = sim.truth()
        sim.clock.advance(days=30)
        yield client, served, before, sim.truth()


def test_incremental_filter_returns_exactly_the_changed_leads(advanced):
    client, served, before, after = advanced
    changed = client.all("/api/v4/leads", "leads", limit=250, **{"filter[updated_at][from]": NOW + 1})
    live = after.leads[~after.leads.is_deleted]
    expected = live[live.updated_at > NOW]
    assert _ids(changed) == sorted(expected.id)
    new = set(live.id) - set(before.leads.id)
    assert len(new) > 100 and new <= set(expected.id)
    unchanged = [lead for lead in client.all("/api/v4/leads", "leads", limit=250) if lead["updated_at"] <= NOW]
    assert unchanged and all(without_item_queries(lead) == without_item_queries(served[lead["id"]])
                             for lead in unchanged)


def test_open_leads_move_win_and_lose(advanced):
    _, _, before, after = advanced
    old = before.leads.set_index("id")
    new = after.leads.set_index("id").loc[old.index]
    was_open = ~old.status_id.isin([142, 143])
    assert (new.status_id != old.status_id)[was_open].sum() > 50
    assert ((new.status_id == 142) & was_open).sum() > 10 and ((new.status_id == 143) & was_open).sum() > 10
    moved = new.updated_at > old.updated_at
    assert (new.closed_at[(new.status_id == 142) & was_open] > NOW).all()
    assert (moved | (new.status_id == old.status_id)).all()


def test_deletions_show_up_in_the_trash_view(advanced):
    client, _, before, after = advanced
    newly = after.leads[after.leads.is_deleted & (after.leads.deleted_at > NOW)]
    assert len(newly)
    trash = client.all("/api/v4/leads", "leads", **{"with": "only_deleted", "filter[updated_at][from]": NOW + 1})
    assert _ids(trash) == sorted(newly.id)
    events = client.all("/api/v4/events", "events", limit=250, **{"filter[type][]": ["lead_deleted", "lead_restored"],
                                                                   "filter[created_at][from]": NOW + 1})
    assert set(newly.id) <= {e["entity_id"] for e in events if e["type"] == "lead_deleted"}


def test_restores_happen_and_count_as_changes():
    account = SimulatedAccount.generate(seed=21, leads=3000, now=NOW)
    truth = account.truth(at=account.end)
    restored = truth.events[truth.events.type == "lead_restored"]
    assert len(restored)
    leads = truth.leads.set_index("id")
    for lead_id, at in zip(restored.entity_id, restored.created_at):
        if not leads.is_deleted[lead_id]:
            assert leads.updated_at[lead_id] >= at


def test_events_and_tasks_are_incremental(advanced):
    client, _, before, after = advanced
    events = client.all("/api/v4/events", "events", limit=250, **{"filter[created_at]": NOW + 1})
    assert _ids(events) == sorted(after.events[after.events.created_at > NOW].id)
    assert set(before.events.id) < set(after.events.id)
    old = before.tasks.set_index("id")
    new = after.tasks.set_index("id").loc[old.index]
    completed_since = new.is_completed & ~old.is_completed
    assert completed_since.sum() > 5 and (new.updated_at[completed_since] > NOW).all()
    tasks = client.all("/api/v4/tasks", "tasks", limit=250, **{"filter[updated_at][from]": NOW + 1})
    assert set(completed_since[completed_since].index) <= {t["id"] for t in tasks}


def test_the_past_does_not_change(advanced):
    _, _, before, _ = advanced
    account = SimulatedAccount.generate(seed=21, leads=3000, now=NOW)
    account.truth(at=NOW + 30 * 86_400).leads
    pd.testing.assert_frame_equal(account.truth(at=NOW).leads, before.leads)


def test_clock_stays_within_the_timeline(fresh_sim):
    with pytest.raises(ValueError):
        fresh_sim.clock.advance(days=61)
    fresh_sim.clock.set(fresh_sim.account.end)
    assert fresh_sim.clock.now == NOW + 60 * 86_400


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started", [None, _ignore_sigint], ids=["foreground", "background_sigint_ignored"])
def test_command_line_serves_until_interrupted(tmp_path, started):
    """Ctrl-C stops it, also when it was started in the background (`&` in a script starts a process with
    SIGINT ignored, and a simulator that never stops blocks the script)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.simulator", "--port", "0", "--leads", "50", "--rate-limit", "0",
         "--now", str(NOW)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd(), preexec_fn=started)
    try:
        lines = [process.stdout.readline() for _ in range(7)]
        base_url = lines[0].split()[2]
        token = lines[1].split(": ", 1)[1].strip()
        assert "client_id" in lines[2] and "redirect_uri" in lines[4] and "authorization code" in lines[5]
        response = requests.get(f"{base_url}/api/v4/leads", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200 and response.json()["_embedded"]["leads"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
