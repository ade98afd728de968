"""A data folder holds one account: pointed at another, the extractor refuses before loading anything
(the old account's cursors would otherwise skip the new account's whole history)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from amocrm_checks import NOW, extract, table
from pipelines import paths
from pipelines.amocrm import origin
from pipelines.simulator import SimulatedAccount, Simulator
from pipelines.simulator.reference import DEFAULT_PROFILE

FIRST_ACCOUNT_ID = DEFAULT_PROFILE.account_id
OTHER_ACCOUNT_ID = FIRST_ACCOUNT_ID + 1


@pytest.fixture
def other_sim(data_dir):
    """A second account (another id and subdomain) with its own leads."""
    profile = replace(DEFAULT_PROFILE, account_id=OTHER_ACCOUNT_ID, subdomain="otherco")
    account = SimulatedAccount.generate(seed=12, leads=60, now=NOW, horizon_days=60, profile=profile)
    with Simulator(account, rate_limit=None) as simulator:
        yield simulator


def _switch_is_refused(other_sim, data_dir, leads_before: int) -> None:
    with pytest.raises(Exception) as caught:
        extract(other_sim)
    error = caught.value
    while error is not None and not isinstance(error, origin.AccountMismatch):
        error = error.__cause__ or error.__context__
    assert error is not None, f"not refused: {caught.value!r}"
    message = str(error)
    assert f"holds amoCRM account {FIRST_ACCOUNT_ID}" in message and str(data_dir) in message
    assert f"{OTHER_ACCOUNT_ID} (otherco)" in message and "AMOCRM_KPI_DATA_DIR" in message
    assert len(table("leads")) == leads_before  # nothing of the new account was loaded
    assert set(table("account")["id"]) == {FIRST_ACCOUNT_ID}


def test_switching_accounts_is_refused_and_loads_nothing(sim, data_dir, request):
    extract(sim)
    leads_before = len(table("leads"))
    assert json.loads((data_dir / origin.MARKER).read_text())["account_id"] == FIRST_ACCOUNT_ID
    _switch_is_refused(request.getfixturevalue("other_sim"), data_dir, leads_before)


def test_a_folder_from_before_the_marker_is_recognised_by_its_warehouse(sim, data_dir, request):
    extract(sim)
    leads_before = len(table("leads"))
    (data_dir / origin.MARKER).unlink()
    _switch_is_refused(request.getfixturevalue("other_sim"), data_dir, leads_before)


def test_the_same_account_runs_again_and_is_named(sim, data_dir):
    extract(sim)
    summary = extract(sim)
    assert summary.source.startswith(f"amoCRM account {FIRST_ACCOUNT_ID}")
    held = origin.held_origin(paths.data_dir())
    assert held is not None and not held.simulated and held.base_url_host == "127.0.0.1"
    meta = table(origin.TABLE)
    assert meta[["account_id", "simulated"]].values.tolist() == [[FIRST_ACCOUNT_ID, False]]
