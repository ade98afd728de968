"""`runguard.warehouse_writes`: one write phase holds the warehouse flock; inside a holder it is a no-op.

flock belongs to the open file, so a process that took it again on a second fd would wait for itself.
Real processes try the lock from outside (timeout 0: they fail at once when it is held).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import runguard
from pipelines.runguard import WarehouseBusy, warehouse_lock, warehouse_writes

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _other_process_gets_lock(data_dir: Path) -> bool:
    script = ("from pipelines.runguard import warehouse_lock, WarehouseBusy\n"
              "try:\n    with warehouse_lock({'command': 'probe'}, timeout=0): print('got')\n"
              "except WarehouseBusy as exc: print('busy', exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"AMOCRM_KPI_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.startswith("got")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AMOCRM_KPI_DATA_DIR", str(tmp_path))
    return tmp_path


def test_write_phase_holds_the_lock_and_nests_without_waiting_for_itself(data_dir):
    assert _other_process_gets_lock(data_dir)
    with warehouse_writes({"command": "outer"}, timeout=0):
        assert runguard.holds_warehouse()
        with warehouse_writes({"command": "inner"}, timeout=0):  # a second flock would raise at timeout 0
            assert not _other_process_gets_lock(data_dir)
        assert not _other_process_gets_lock(data_dir)  # the inner exit did not release the outer hold
    assert not runguard.holds_warehouse()
    assert _other_process_gets_lock(data_dir)


def test_write_phase_inside_a_run_lock_is_a_no_op_and_the_run_keeps_it(data_dir):
    with warehouse_lock({"run_id": "r1"}, timeout=0):
        started = time.monotonic()
        with warehouse_writes({"command": "load"}, timeout=5):
            assert not _other_process_gets_lock(data_dir)
        assert time.monotonic() - started < 5  # did not wait for itself
        assert not _other_process_gets_lock(data_dir)
    assert _other_process_gets_lock(data_dir)


def test_threads_of_one_process_take_turns(data_dir):
    inside, overlaps = [], []

    def phase(name: str) -> None:
        with warehouse_writes({"command": name}, timeout=30):
            inside.append(name)
            if len(inside) > 1:
                overlaps.append(tuple(inside))
            time.sleep(0.2)
            inside.remove(name)

    with warehouse_lock({"run_id": "r2"}, timeout=0):  # under a run's lock too: one write phase at a time
        threads = [threading.Thread(target=phase, args=(f"t{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert overlaps == []


def test_write_phase_names_the_holder_and_gives_up(data_dir):
    script = ("from pipelines.runguard import warehouse_writes\nimport time\n"
              "with warehouse_writes({'command': \"extraction of account 'acc1'\"}):\n"
              "    print('ready', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={"AMOCRM_KPI_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy, match="Gave up after 0.5 s waiting for the warehouse: extraction of account 'acc1' since"):
            with warehouse_writes({"command": "second"}, say=lambda m: None, timeout=0.5):
                pass
        assert not runguard.holds_warehouse()
    finally:
        holder.kill()
        holder.wait()
