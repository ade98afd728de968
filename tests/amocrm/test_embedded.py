"""The embedded demo account: realistic response speed, and an old demo folder kept as it was, loudly."""

from __future__ import annotations

import json
import logging
import time

import pytest

import kpi_response
from kpi_reference import KpiReference
from pipelines.amocrm import embedded


@pytest.fixture
def started(data_dir):
    """Start the embedded simulator in a fresh data folder; stop it afterwards."""

    def start():
        embedded.start()
        return embedded._running[str(data_dir)]

    yield start
    sim = embedded._running.pop(str(data_dir), None)
    if sim is not None:
        sim.__exit__(None, None, None)


def _last_month(sim) -> dict:
    """SLA share and median first response (minutes) of the leads created in the account's last complete
    month, from the simulator's truth (the independent reference of the KPI tests)."""
    reference = KpiReference(sim.account.truth(), extracted_at=sim.account.now, spend=[], targets=[])
    leads = kpi_response.first_responses(reference, reference.response_sla_minutes)
    month = sorted({d.replace(day=1) for d in leads["created_date"]})[-2]
    leads = leads[[d.replace(day=1) == month for d in leads["created_date"]]]
    return {"sla_share": leads["within"].sum() / leads["sla_elapsed"].sum(), "median": leads["minutes"].median()}


def test_a_new_demo_folder_gets_managers_who_answer_new_leads(started, data_dir):
    sim = started()
    state = json.loads((data_dir / embedded.STATE_FILE).read_text())
    assert state["scenarios"] == ["first_response"] and sim.account.timeline.scenarios == {"first_response"}
    assert embedded.outdated_note() is None
    month = _last_month(sim)
    assert month["sla_share"] > 0.2  # without the scenario: about 1%
    assert month["median"] < 180  # without it: days


def test_an_old_demo_folder_keeps_its_account_and_says_how_to_get_the_new_one(started, data_dir, caplog):
    now = int(time.time()) - 3 * 86_400
    (data_dir / embedded.STATE_FILE).write_text(json.dumps({"seed": embedded.SEED, "leads": 200, "now": now}))
    with caplog.at_level(logging.WARNING, logger=embedded.__name__):
        sim = started()
    assert sim.account.timeline.scenarios == frozenset() and sim.account.now == now
    note = embedded.outdated_note()
    assert note and "first_response" in note and str(data_dir) in note and "make demo" in note
    assert note in caplog.text
    assert "scenarios" not in json.loads((data_dir / embedded.STATE_FILE).read_text())  # the record is not rewritten


def test_make_demo_says_so_before_it_runs(clean_env, monkeypatch, capsys):
    from pipelines import demo, job_console

    data = clean_env / "data"
    data.mkdir()
    (data / embedded.STATE_FILE).write_text(json.dumps({"seed": embedded.SEED, "leads": 200, "now": 1_780_000_000}))
    monkeypatch.setenv("DAGSTER_HOME", str(clean_env / "dagster_home"))

    class Stop(Exception):
        pass

    def run_job(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(job_console, "run_job", run_job)
    with pytest.raises(Stop):
        demo.main([])
    err = capsys.readouterr().err
    assert err.startswith("Note: The demo data in ") and "without the scenario first_response" in err
