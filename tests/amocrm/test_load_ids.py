"""A package whose load id the warehouse already holds is refused before loading (`load_ids`, issue 14).

dlt names packages by the wall clock, unique within one process only: two account processes can make
the same id, and a clock set back can repeat one. Real: hub simulators over HTTP, dlt into a temp DuckDB;
the clash is forced by giving the second account's package the first account's load id, as a clock
would. Loaded, the second account's rows would be invisible to dbt's incremental ledger; refused, the
run loads nothing, and the next run reads the same changes again (nothing skipped).
"""

from __future__ import annotations

import duckdb
import pytest
from amocrm_checks import FAST, NOW, assert_matches_truth, table

import dlt.extract.storage
from pipelines import paths
from pipelines.amocrm.load_ids import DuplicateLoadId
from pipelines.amocrm.run import run_extraction
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs


@pytest.fixture
def hub(clean_env, monkeypatch):
    with Simulators.generate(derived_specs(2, seed=11, leads=100), now=NOW, horizon_days=60, rate_limit=None) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


def _loads() -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute("select load_id, status from raw_amocrm._dlt_loads order by load_id").fetchall()


def test_a_package_with_a_load_id_the_warehouse_holds_is_refused_and_read_again_next_run(hub, monkeypatch):
    ids = {key: int(hub[key].truth().account["id"]) for key in hub}
    run_extraction(account_key="acc1", **FAST)
    run_extraction(account_key="acc2", **FAST)
    hub.advance(days=2)  # both accounts change: the next acc2 run has new rows to read
    run_extraction(account_key="acc1", **FAST)
    before = _loads()
    acc1_latest = max(load_id for load_id, _ in before if load_id in set(table("extractions", ids["acc1"])._dlt_load_id))
    acc2_rows = len(table("leads", ids["acc2"]))

    with monkeypatch.context() as patched:  # acc2's package gets acc1's load id, as a clock set back would make
        patched.setattr(dlt.extract.storage, "create_load_id", lambda: acc1_latest)
        with pytest.raises(DuplicateLoadId) as refused:
            run_extraction(account_key="acc2", **FAST)
    message = str(refused.value)
    assert f"account 'acc2'" in message and acc1_latest in message
    assert "the extraction of account 'acc1'" in message and "Nothing of this run was loaded" in message
    assert _loads() == before  # no second row for that id, no aborted package recorded
    assert len(table("leads", ids["acc2"])) == acc2_rows
    assert not set(table("leads", ids["acc2"])._dlt_load_id) & {acc1_latest}

    run_extraction(account_key="acc2", **FAST)  # the refused run's changes are read again, none skipped
    truths = hub.truths()
    assert_matches_truth(truths["acc2"], account_id=ids["acc2"], stale_links=True)
    assert_matches_truth(truths["acc1"], account_id=ids["acc1"], stale_links=True)
    after = [load_id for load_id, _ in _loads()]
    assert len(after) == len(set(after)) == len(before) + 1
