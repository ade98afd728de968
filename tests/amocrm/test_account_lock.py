"""One extraction per account at a time (`account_lock`, issue 14): real CLI processes against hub simulators.

A second extraction of an account that is being extracted fails at once, naming the account and the
holder's pid; another account's extraction runs meanwhile; the lock dies with its process (SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from amocrm_checks import NOW, assert_matches_truth

from pipelines.amocrm import account_lock
from pipelines.amocrm.account_lock import AccountBusy
from pipelines.simulator.hub import Simulators
from pipelines.simulator.profiles import derived_specs

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(clean_env):
    with Simulators.generate(derived_specs(2, seed=11, leads=120), now=NOW, horizon_days=60, rate_limit=None) as running:
        yield running


def _cli_env(hub: Simulators, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper()}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(data_dir), **hub.env()}
    env["SOURCES__AMOCRM__ACCOUNTS__ACC1__REQUESTS_PER_SECOND"] = "2"  # slow: still extracting when the others come
    env["SOURCES__AMOCRM__ACCOUNTS__ACC2__REQUESTS_PER_SECOND"] = "1000"
    return env


def _cli(env: dict[str, str], cwd: Path, key: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.amocrm", "--account", key], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_holder(path: Path, pid: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            holder = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if holder.get("process", {}).get("pid") == pid:
            return holder
        time.sleep(0.2)
    raise AssertionError(f"process {pid} never took {path}")


def test_a_second_extraction_of_the_same_account_fails_at_once_and_the_lock_dies_with_its_process(hub, clean_env):
    data_dir = clean_env / "data"
    env = _cli_env(hub, data_dir)
    first = _cli(env, clean_env, "acc1")
    try:
        holder = _wait_for_holder(data_dir / ".accounts" / "acc1.lock", first.pid)
        assert holder["account"] == "acc1" and "--account acc1" in holder["command"]
        other_account = _cli(env, clean_env, "acc2")  # another account: not blocked
        started = time.monotonic()
        second = _cli(env, clean_env, "acc1")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 1, err
        assert time.monotonic() - started < 60  # it did not wait for the first one
        assert "amoCRM account 'acc1' is being extracted already" in err
        assert f"pid {first.pid}" in err and "changed nothing" in err
        assert first.poll() is None, "the first extraction must still be running, or the test proves nothing"
        out, err = other_account.communicate(timeout=600)
        assert other_account.returncode == 0, err[-3000:]
    finally:
        first.send_signal(signal.SIGKILL)  # killed outright: only the kernel can release its lock
        first.wait(timeout=60)
    with account_lock.holding("acc1", {"command": "test"}):  # it died, so its lock is free
        pass
    assert_matches_truth(hub["acc2"].truth(), account_id=hub["acc2"].truth().account["id"])


def test_the_same_account_is_refused_within_one_process_and_other_accounts_are_not(clean_env):
    with account_lock.holding("acc1", {"run_id": "r-123"}):
        with pytest.raises(AccountBusy, match=r"'acc1' is being extracted already, by run r-123 \(pid \d+"):
            with account_lock.holding("acc1"):
                pass
        with account_lock.holding("acc2"):  # different accounts do not block each other
            pass
    with account_lock.holding("acc1"):  # released on exit
        pass


def test_id_reconciliation_is_refused_while_its_account_is_extracted(clean_env):
    """The reconciliation reads every id from amoCRM: beside an extraction of the same account it would send
    amoCRM twice the account's rate. It stops before its first request, saying what it is and who holds it."""
    from pipelines.amocrm.id_reconciliation import run_reconciliation

    with account_lock.holding("default", {"run_id": "r-ext"}):
        with pytest.raises(AccountBusy, match=r"by run r-ext .*this id reconciliation did not start"):
            run_reconciliation()
