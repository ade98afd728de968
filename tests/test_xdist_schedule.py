"""`make test`'s workers (`-n 3 --dist loadgroup`) keep each xdist group on one worker and start the
longest group first (tests/xdist_schedule.py). Without it, on pytest 9, every group was spread over
all workers and each built its own copy of the shared warehouses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent

SUITE = '''
import os
import pytest

def _record(name):
    with open(os.environ["RECORD"], "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {name}\\n")

@pytest.mark.parametrize("n", range(4))
def test_alone(n):
    _record(f"alone{n}")

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("n", range(6))
def test_shared(n):
    _record(f"shared{n}")

@pytest.mark.xdist_group("warehouse")
def test_long():
    _record("long")
'''


def test_a_group_runs_on_one_worker_and_the_longest_starts_first(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    record = tmp_path / "record.txt"
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "RECORD": str(record)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist_schedule", "-p", "no:cacheprovider",
                           "-n", "2", "--dist", "loadgroup", "-q", "-c", str(tmp_path / "pytest.ini"),
                           "--rootdir", str(tmp_path), str(tmp_path / "test_suite.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [line.split() for line in record.read_text().splitlines()]
    assert len(runs) == 11
    assert len({worker for worker, name in runs if name.startswith("shared")}) == 1, runs
    long_worker = next(worker for worker, name in runs if name == "long")
    assert [name for worker, name in runs if worker == long_worker][0] == "long", runs  # "warehouse" is heaviest


MODULE = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("dagster")

@pytest.fixture(scope="module")
def built():
    with open(os.environ["RECORD"], "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {__name__} fixture\\n")

@pytest.mark.parametrize("n", range(3))
def test_one(built, n, request):
    with open(os.environ["RECORD"], "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {__name__} {request.node.nodeid}\\n")
'''


def test_each_module_of_a_per_module_group_is_a_unit_of_its_own(tmp_path):
    """"dagster" tests share no session fixture: each module is one work unit (its module fixture built
    once, on one worker), named `dagster.<module>`, so two modules need not wait for each other."""
    for name in ("test_first", "test_second"):
        (tmp_path / f"{name}.py").write_text(MODULE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    record = tmp_path / "record.txt"
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR), "RECORD": str(record)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist_schedule", "-p", "no:cacheprovider",
                           "-n", "2", "--dist", "loadgroup", "-q", "-c", str(tmp_path / "pytest.ini"),
                           "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = [line.split() for line in record.read_text().splitlines()]
    for module in ("test_first", "test_second"):
        mine = [(worker, what) for worker, name, what in runs if name == module]
        assert [what for _, what in mine].count("fixture") == 1, runs  # the module fixture, once
        assert len({worker for worker, _ in mine}) == 1, runs  # the module's tests on one worker
        tests = [what for _, what in mine if what != "fixture"]
        assert len(tests) == 3 and all(t.endswith(f"@dagster.{module}") for t in tests), tests


def test_the_weights_are_measured_from_pytest_durations():
    """`pytest --durations=0 | python tests/xdist_schedule.py`: a group's seconds are all its steps, a
    test outside any group counts alone (its longest parameter) and only when it is long."""
    from xdist_schedule import measured

    lines = """============================= slowest durations ==============================
150.04s call     tests/defs/test_a.py::test_one@dagster.test_a
52.26s setup    tests/defs/test_a.py::test_two@dagster.test_a
1.00s teardown tests/defs/test_a.py::test_two@dagster.test_a
40.00s setup    tests/dbt/test_k.py::test_mart[fct_leads]@warehouse
30.00s call     tests/amocrm/test_x.py::test_slow[2]
25.00s call     tests/amocrm/test_x.py::test_slow[1]
5.00s setup    tests/amocrm/test_x.py::test_slow[1]
3.00s call     tests/amocrm/test_x.py::test_quick
(120 durations < 0.005s hidden.)
""".splitlines()
    groups, tests = measured(lines)
    assert groups == {"dagster.test_a": 203, "warehouse": 40}
    assert list(groups) == ["dagster.test_a", "warehouse"]  # longest first
    assert tests == {"tests/amocrm/test_x.py::test_slow": 30}
