"""The tests' dbt zygote (tests/dbt_zygote.py) leaves no dbt behind when a call times out: the forked dbt
child would otherwise run on, holding the warehouse's lock, after its test had already failed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from dbt_zygote import Zygote

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def _running_in(folder: Path) -> list[int]:
    """Live processes whose working folder is `folder` (the zygote's child changes into the call's)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == folder:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_timed_out_call_kills_the_dbt_child_too(tmp_path):
    zygote = Zygote()
    env = {**os.environ, "AMOCRM_KPI_DATA_DIR": str(tmp_path)}
    # a full parse of the project takes seconds; the call gives it a tenth of one
    args = ["parse", "--no-partial-parse", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    assert zygote.run(["--version"], tmp_path, env, timeout=120).returncode == 0  # started, dbt imported
    with pytest.raises(subprocess.TimeoutExpired):
        zygote.run(args, tmp_path, env, timeout=0.1)
    deadline = time.monotonic() + 2  # SIGKILL takes effect at once; the parse alone would run for seconds
    while _running_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running_in(tmp_path) == [], "the dbt child of the timed-out call is still running"
