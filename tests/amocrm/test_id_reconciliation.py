"""The id reconciliation (pipelines/amocrm/id_reconciliation.py): disappearance as a deletion signal.

Scenario `purges` (pipelines/simulator/scenarios.py): three leads, a contact and a company are purged
`PURGED_DAYS_AGO` days before `now`, with no trash entry and no event. The account is extracted a month
before and again at `now`: the purged records were seen live, and nothing the extraction reads says
they are gone. Fault `hide_records` plays a token whose user may not see every record.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from amocrm_checks import FAST, NOW, extract, table
from pipelines import paths
from pipelines.amocrm.id_reconciliation import run_reconciliation
from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator.scenarios import PURGED_DAYS_AGO

pytestmark = pytest.mark.xdist_group("id_reconciliation")  # `extracted_twice` made on one worker, once

DAY = 86_400


def _account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=11, leads=300, now=NOW, horizon_days=60, scenarios={"purges"})


@pytest.fixture(scope="module")
def extracted_twice(tmp_path_factory) -> Path:
    """A data folder where the account was extracted a month before NOW, then again at NOW. Made once:
    each test gets a copy (the two extractions cost more than most tests here)."""
    folder = tmp_path_factory.mktemp("extracted_twice")
    with pytest.MonkeyPatch.context() as mp, Simulator(_account(), rate_limit=None) as simulator:
        mp.setenv("AMOCRM_KPI_DATA_DIR", str(folder))
        simulator.clock.set(NOW - 30 * DAY)
        extract(simulator)
        simulator.clock.set(NOW)
        extract(simulator)
    return folder


@pytest.fixture
def sim(data_dir, extracted_twice):
    """The account served at NOW (a simulator of its own: faults, clock), with a copy of `extracted_twice`
    as the test's data folder."""
    shutil.copytree(extracted_twice, data_dir, dirs_exist_ok=True)
    with Simulator(_account(), rate_limit=None) as simulator:
        assert simulator.clock.now == NOW
        yield simulator


def purged(sim) -> dict[str, list[int]]:
    """Ids the simulator's truth has deleted at the purge, per raw table."""
    truth, at = sim.truth(), NOW - PURGED_DAYS_AGO * DAY
    frames = {name: getattr(truth, name) for name in ("leads", "contacts", "companies")}
    return {name: sorted(int(i) for i in frame.loc[frame["deleted_at"] == at, "id"]) for name, frame in frames.items()}


def live(name: str) -> set[int]:
    rows = table(name)
    return set(rows.loc[~rows["is_deleted"].fillna(False).astype(bool), "id"].astype(int))


def reconcile(sim, **kwargs):
    return run_reconciliation(sim.base_url, sim.long_lived_token, **{**FAST, **kwargs})


def test_purged_records_stay_live_without_a_reconciliation(sim):
    ids = purged(sim)
    assert [len(v) for v in ids.values()] == [3, 1, 1]
    for name, wanted in ids.items():  # what today's extraction alone leaves: gone from amoCRM, live here
        assert set(wanted) <= live(name), name


def test_reconciliation_marks_the_purged_records_deleted(sim):
    ids = purged(sim)
    result = reconcile(sim)
    assert not result.refused, result.format()
    assert {r.table: r.missing for r in result.results} == ids
    assert {r.table: r.marked for r in result.results} == {name: len(v) for name, v in ids.items()}
    for name, wanted in ids.items():
        assert not set(wanted) & live(name), name
        assert {r.scanned for r in result.results if r.table == name} == {len(live(name))}
    summary = table("reconciliations")
    assert sorted(summary["entity"]) == ["companies", "contacts", "leads"]
    assert summary["refused_reason"].isna().all() and summary["marked"].sum() == 5
    extract(sim)  # deletions are recomputed from every signal after each load: the marks hold
    for name, wanted in ids.items():
        assert not set(wanted) & live(name), name
    again = reconcile(sim)
    assert [r.marked for r in again.results] == [0, 0, 0] and not again.refused


def test_too_many_missing_refuses_marks_nothing_and_says_what_to_do(sim):
    before = live("leads")
    sim.faults.hide_records(25, "leads")  # a rights-limited token: 25 + 3 purged > max(20, 2% of ~300)
    result = reconcile(sim)
    (leads,) = result.refused
    assert leads.table == "leads" and len(leads.missing) == 28 and leads.marked == 0
    assert "--accept" in leads.refused and "rights" in leads.refused
    assert "REFUSED" in result.format() and "leads" in result.refusal()
    assert live("leads") == before
    assert {r.table: r.marked for r in result.results} == {"leads": 0, "contacts": 1, "companies": 1}
    recorded = table("reconciliations").set_index("entity")
    assert "more than the limit" in recorded.at["leads", "refused_reason"]

    accepted = reconcile(sim, accept=True)  # a person checked: mark them
    assert not accepted.refused and accepted.results[0].marked == 28
    assert len(before - live("leads")) == 28

    sim.faults.reset()  # the hidden ones were there after all: listed again, live again
    back = reconcile(sim)
    assert len(back.results[0].reappeared) == 25 and back.results[0].marked == 0
    assert before - live("leads") == set(purged(sim)["leads"])


def test_a_partial_scan_refuses(sim):
    before = {name: live(name) for name in ("leads", "contacts", "companies")}
    sim.faults.empty_200_next(3, "/api/v4/contacts")  # read again twice, then the scan fails
    result = reconcile(sim)
    (contacts,) = result.refused
    assert contacts.table == "contacts" and contacts.marked == 0 and "partial" in contacts.refused
    assert live("contacts") == before["contacts"]
    assert not set(purged(sim)["leads"]) & live("leads")  # the other entities went on


def test_an_empty_answer_refuses(sim):
    sim.faults.hide_records(10_000, "companies")
    result = reconcile(sim, accept=True)  # not even accept marks on an empty scan
    (companies,) = result.refused
    assert "listed no companies" in companies.refused and companies.marked == 0


def test_a_restored_stub_amocrm_no_longer_returns_is_deleted_by_disappearance(sim):
    stub = 29_999_999
    with duckdb.connect(str(paths.warehouse_path())) as con:  # a restored record known only as a stub
        con.execute("insert into raw_amocrm.leads (account_id, id, is_deleted, _dlt_load_id, _dlt_id) "
                    f"select id, {stub}, false, '0', 'trash-lead-{stub}' from raw_amocrm.account")
    result = reconcile(sim)
    assert stub in result.results[0].missing
    assert stub not in live("leads")


def test_cli_prints_a_summary_refuses_with_exit_3_and_accepts(sim, monkeypatch, capsys):
    from pipelines.amocrm.__main__ import main

    monkeypatch.setenv("SOURCES__AMOCRM__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__AMOCRM__ACCESS_TOKEN", sim.long_lived_token)
    monkeypatch.setenv("SOURCES__AMOCRM__REQUESTS_PER_SECOND", "1000")
    sim.faults.hide_records(25, "leads")
    assert main(["reconcile-ids"]) == 3
    out, err = capsys.readouterr()
    assert "leads" in out and "REFUSED" in out
    assert "marked nothing as deleted for leads" in err and "--accept" in err
    assert main(["reconcile-ids", "--accept"]) == 0
    out, _ = capsys.readouterr()
    assert "next dbt build" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:4]}
    assert rows["leads"][2:4] == ["28", "28"] and rows["contacts"][2:4] == ["0", "0"]


def test_fewer_ids_than_amocrm_announced_refuse(sim):
    """A list envelope with `_total_items` (live accounts send it on some lists) larger than what the scan read."""
    from dataclasses import replace

    from pipelines.amocrm.connect import connect
    from pipelines.amocrm.id_reconciliation import reconcile
    from pipelines.amocrm.run import make_pipeline

    client = connect(sim.base_url, sim.long_lived_token, requests_per_second=1000)
    served = client.get_page

    def announcing(path, collection, params):  # amoCRM says how many there are: more than it then serves
        page = served(path, collection, params)
        return replace(page, total=len(page.items) + 7) if path.endswith("/companies") else page

    client.get_page = announcing
    pipeline = make_pipeline()
    with pipeline.sql_client() as sql_client:
        result = reconcile(sql_client, pipeline.dataset_name, client, account_id=sim.account.profile.account_id,
                           accept=True)
    (companies,) = result.refused
    assert "announced" in companies.refused and "partial" in companies.refused and companies.marked == 0
    assert {r.table: r.marked for r in result.results} == {"leads": 3, "contacts": 1, "companies": 0}


def test_an_account_that_ignores_filters_is_scanned_in_full(sim):
    """No API filter add-on: the keyset scan meets rows outside its window and reads the whole list by offset;
    the candidates are then asked for one `GET /{entity}/{id}` each."""
    sim.faults.ignore_filters = True
    sim.faults.hide_records(2, "companies")  # the by-id reads must not take hidden ones for live
    result = reconcile(sim)
    assert not result.refused, result.format()
    ids = purged(sim)
    assert {r.table: len(r.missing) for r in result.results} == {"leads": 3, "contacts": 1, "companies": 3}
    assert set(ids["companies"]) <= set(result.results[2].missing)
    assert not set(ids["leads"]) & live("leads")
