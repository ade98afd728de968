"""Records merged away (scenario `merges`: an `entity_merged` event, never the trash) are deleted, and each
record a merge event flags deleted is asked for once by id (pipelines/amocrm/merges.py)."""

from __future__ import annotations

import duckdb
import pytest

from amocrm_checks import NOW, assert_matches_truth, extract, table
from pipelines import paths
from pipelines.amocrm import restored
from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator import reference as ref
from pipelines.simulator.scenarios import MERGED_DAYS_AGO

DAY = 86_400


@pytest.fixture
def sim(data_dir):
    account = SimulatedAccount.generate(seed=11, leads=300, now=NOW, horizon_days=60, scenarios={"merges"})
    with Simulator(account, rate_limit=None) as simulator:
        yield simulator


def merged_away(sim) -> dict[str, list[int]]:
    tl = sim.account.timeline
    return {name: sorted(base + int(e) for e in log.entity[log["merged"].astype(bool)])
            for name, log, base in (("leads", tl.lead_trash, ref.LEAD_ID_BASE),
                                    ("contacts", tl.contact_trash, ref.CONTACT_ID_BASE))}


def checks() -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute("select entity_type, id, found from raw_amocrm.merge_checks order by all").fetchall()


def test_merged_away_records_are_deleted_and_checked_once(sim, monkeypatch):
    ids = merged_away(sim)
    sim.clock.set(NOW - (MERGED_DAYS_AGO + 10) * DAY)
    extract(sim)
    sim.clock.set(NOW)
    summary = extract(sim)
    for name, wanted in ids.items():
        rows = table(name).set_index("id").loc[wanted]
        assert rows["is_deleted"].all(), name
        assert (rows["deleted_at"] == NOW - MERGED_DAYS_AGO * DAY).all(), name
    assert_matches_truth(sim.truth())
    assert checks() == sorted([("contact", i, False) for i in ids["contacts"]] + [("lead", i, False) for i in ids["leads"]])
    assert summary.restored_records.warning() is None, "a merge amoCRM confirms is no news"
    asked = []
    fetch = restored.fetch
    monkeypatch.setattr(restored, "fetch", lambda client, name, wanted, *a: asked.append(wanted) or fetch(client, name, wanted, *a))
    extract(sim)
    assert asked == [] and len(checks()) == 4, "asked once"


def test_a_merge_event_naming_a_live_record_is_reported_and_the_record_stays_live(sim):
    extract(sim)
    survivor = int(table("leads").query("not is_deleted")["id"].min())
    with duckdb.connect(str(paths.warehouse_path())) as con:
        con.execute("insert into raw_amocrm.events (account_id, id, type, entity_type, entity_id, created_by, "
                    f"created_at, _dlt_load_id, _dlt_id) select id, 'merge-x', 'entity_merged', 'lead', {survivor}, 0, "
                    f"{NOW - DAY}, '0', 'x1' from raw_amocrm.account")
    summary = extract(sim)
    assert summary.restored_records.merged_live == {"leads": [survivor]}
    assert "entity_merged event names" in summary.format() and str(survivor) in summary.format()
    assert not table("leads").set_index("id").loc[survivor, "is_deleted"]
    assert ("lead", survivor, True) in checks()
    again = extract(sim)
    assert again.restored_records.warning() is None, "asked and reported once"
    assert not table("leads").set_index("id").loc[survivor, "is_deleted"]
