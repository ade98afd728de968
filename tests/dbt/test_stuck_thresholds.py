"""The stuck-threshold model's windowed quantile (a Python dbt model) equals numpy's quantile over each
day's window, on random stays with ties, empty windows and days outside the stays' range."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import DBT_PROJECT_DIR


@pytest.fixture(scope="module")
def thresholds():
    path = DBT_PROJECT_DIR / "models" / "intermediate" / "int_stage_stuck_thresholds.py"
    spec = importlib.util.spec_from_file_location("int_stage_stuck_thresholds", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stays", [0, 1, 7, 400, 5000])
def test_window_quantiles_equal_numpy(thresholds, stays):
    rng = np.random.default_rng(stays)
    left = rng.integers(0, 400, stays)
    hours = np.round(rng.random(stays) * 30)  # whole hours: many ties
    days = np.arange(-3, 420)
    counts, lines = thresholds.window_quantiles(left, hours, days)
    for day, count, line in zip(days, counts, lines):
        window = hours[(left > day - thresholds.WINDOW_DAYS) & (left <= day)]
        assert count == len(window)
        if len(window):
            assert line == pytest.approx(np.quantile(window, 0.9), abs=1e-9)
        else:
            assert np.isnan(line)
