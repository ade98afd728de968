"""Restored records known only from the trash are read again by id (pipelines/amocrm/restored.py).

Scenario `silent_restore` (pipelines/simulator/scenarios.py): a few leads, a contact and a company are
deleted before the first extraction and restored before the second, and restoring does not change
`updated_at`, so the incremental scans never list them again.
"""

from __future__ import annotations

import logging

import duckdb
import pytest

from amocrm_checks import NOW, assert_matches_truth, extract, table
from pipelines import paths
from pipelines.amocrm import restored
from pipelines.amocrm.connect import connect
from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator import reference as ref
from pipelines.simulator.scenarios import SILENT_DELETED_DAYS_AGO, SILENT_RESTORED_DAYS_AGO

DAY = 86_400
BETWEEN = NOW - (SILENT_DELETED_DAYS_AGO + SILENT_RESTORED_DAYS_AGO) // 2 * DAY  # deleted, not yet restored
GONE = 29_999_999  # a lead id amoCRM does not have


@pytest.fixture
def sim(data_dir):
    account = SimulatedAccount.generate(seed=11, leads=300, now=NOW, horizon_days=60, scenarios={"silent_restore"})
    with Simulator(account, rate_limit=None) as simulator:
        yield simulator


def planted(sim) -> dict[str, list[int]]:
    tl, restored_at = sim.account.timeline, NOW - SILENT_RESTORED_DAYS_AGO * DAY
    out = {}
    for name, log, base in (("leads", tl.lead_trash, ref.LEAD_ID_BASE), ("contacts", tl.contact_trash,
                            ref.CONTACT_ID_BASE), ("companies", tl.company_trash, ref.COMPANY_ID_BASE)):
        out[name] = sorted(base + int(e) for e in log.entity[(log.time == restored_at) & ~log["deleted"].astype(bool)])
    return out


def extract_around_the_restore(sim):
    sim.clock.set(BETWEEN)
    first = extract(sim)
    sim.clock.set(NOW)
    return first, extract(sim)


def test_restored_stubs_are_read_by_id_and_whole(sim):
    ids = planted(sim)
    assert [len(v) for v in ids.values()] == [2, 1, 1]
    first, second = extract_around_the_restore(sim)
    assert not any(first.restored_records.fetched.values()), "nothing is restored yet"
    assert second.restored_records.fetched == {table: len(v) for table, v in ids.items()}
    assert not any(second.restored_records.missing.values())
    assert "restored records read again by id" in second.format()
    for name, wanted in ids.items():
        rows = table(name).set_index("id").loc[wanted]
        assert rows[["name", "created_at", "updated_at"]].notna().all().all(), name
        assert not rows["is_deleted"].any(), name
    assert_matches_truth(sim.truth())
    third = extract(sim)  # nothing is a stub any more: no request by id
    assert not any(third.restored_records.fetched.values())


def test_a_restored_id_amocrm_does_not_return_is_reported_every_run(sim, caplog):
    extract_around_the_restore(sim)
    with duckdb.connect(str(paths.warehouse_path())) as con:  # a trash entry and a restore of a lead now gone
        con.execute(f"insert into raw_amocrm.deletions (account_id, entity_type, id, deleted_at, deleted_by, "
                    f"_dlt_load_id, _dlt_id) select id, 'lead', {GONE}, {NOW - 5 * DAY}, 0, '0', 'x1' "
                    "from raw_amocrm.account")
        con.execute("insert into raw_amocrm.events (account_id, id, type, entity_type, entity_id, created_by, "
                    f"created_at, _dlt_load_id, _dlt_id) select id, 'restore-x', 'lead_restored', 'lead', {GONE}, 0, "
                    f"{NOW - 4 * DAY}, '0', 'x2' from raw_amocrm.account")
    for _ in range(2):
        with caplog.at_level(logging.WARNING, logger="pipelines.amocrm.restored"):
            summary = extract(sim)
        assert summary.restored_records.missing == {"leads": [GONE]}
        assert "WARNING: restored records amoCRM did not return" in summary.format()
        assert str(GONE) in summary.format()
        assert any(str(GONE) in r.getMessage() for r in caplog.records)
        caplog.clear()
    stub = table("leads").set_index("id").loc[GONE]
    assert stub[["name", "created_at", "updated_at"]].isna().all(), "the stub stays, no data invented"


def test_ids_are_read_in_batches_and_a_missing_one_is_named(sim, data_dir):
    state = sim.account.state(NOW)
    live = [ref.LEAD_ID_BASE + i for i in range(len(state.leads["is_deleted"])) if not state.leads["is_deleted"][i]]
    deleted = [ref.LEAD_ID_BASE + i for i in range(len(state.leads["is_deleted"])) if state.leads["is_deleted"][i]]
    wanted = sorted(live[:restored.BATCH * 2 + 7] + deleted[:1] + [GONE])
    client = connect(sim.base_url, sim.long_lived_token, requests_per_second=1000)
    sim.stats.reset()
    items, missing, single = restored.fetch(client, "leads", wanted)
    assert sorted(item["id"] for item in items) == sorted(live[:restored.BATCH * 2 + 7])
    assert missing == sorted(deleted[:1] + [GONE]) and not single
    batches = [wanted[i:i + restored.BATCH] for i in range(0, len(wanted), restored.BATCH)]
    short = sum(1 for batch in batches if set(batch) & set(missing))
    assert len(batches) == 3 and short >= 1
    assert sim.stats.count("/api/v4/leads") == 3 + short, "a page per batch; one short of an id reads on to the end"
    assert all(item["_embedded"].get("contacts") is not None for item in items), "read with the scan's `with`"


def test_an_account_ignoring_filters_is_read_one_id_a_request(sim, data_dir):
    wanted = [ref.LEAD_ID_BASE + i for i in range(5)] + [GONE]
    client = connect(sim.base_url, sim.long_lived_token, requests_per_second=1000)
    expected, _, _ = restored.fetch(client, "leads", wanted)
    sim.faults.ignore_filters = True
    sim.stats.reset()
    items, missing, single = restored.fetch(client, "leads", wanted)
    assert single and missing == [GONE]

    def plain(found):  # a listed item's `_links.self.href` repeats the list's query (live shapes), one read by id not
        return [{k: v for k, v in item.items() if k != "_links"} for item in found]

    assert plain(items) == plain(expected)
    assert sim.stats.count("/api/v4/leads") == 1 + len(wanted), "the list, found unfiltered, then one id a request"
