"""The `python -m` entry points from a terminal: `--help` has no side effects, and a failed demo
ends with its root cause in plain words (the traceback goes to a log file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.simulator import SimulatedAccount, Simulator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ["pipelines.demo", "pipelines.inputs", "pipelines.amocrm", "pipelines.report", "pipelines.simulator",
                "pipelines.postgres.instance", "benchmarks"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "AMO" not in k.upper() and k != "DAGSTER_HOME"}
    return env | {"PYTHONPATH": str(PROJECT_ROOT), "AMOCRM_KPI_DATA_DIR": str(tmp_path / "data"),
                  "DAGSTER_HOME": str(tmp_path / "dagster_home"), **extra}


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_help_describes_and_does_nothing(module, tmp_path):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=workdir, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"usage: python -m {module}"), result.stdout[:500]
    assert [p.name for p in tmp_path.rglob("*")] == ["cwd"], "--help created files"


def test_demo_with_a_rejected_token_ends_with_the_cause(tmp_path):
    account = SimulatedAccount.generate(seed=11, leads=40)
    with Simulator(account, rate_limit=None) as sim:
        env = _env(tmp_path, SOURCES__AMOCRM__BASE_URL=sim.base_url, SOURCES__AMOCRM__ACCESS_TOKEN="rejected-token")
        result = subprocess.run([sys.executable, "-m", "pipelines.demo"], cwd=PROJECT_ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "the long-lived access token was rejected (401)" in last, output[-3000:]
    assert "Traceback" not in output and len(output.splitlines()) < 40, output
    logs = list((tmp_path / "data" / "logs").glob("demo-*.log"))
    assert len(logs) == 1 and str(logs[0]) in output
    log = logs[0].read_text()
    assert "Stack Trace" in log and "AmoAuthError" in log and "rejected-token" not in log
