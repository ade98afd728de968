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


def test_window_quantiles_equal_duckdb_quantile_cont(thresholds):
    """The SQL definition (quantile_cont over each day's window): the same ranks and interpolation, on
    ties, fractional hours and days with one or no stay. Not bit for bit: DuckDB 2.0 rounds
    lo * (1 - d) + hi * d with a fused multiply-add, numpy and this model lo + d * (hi - lo), which
    differ in the last bit for about one line in eight."""
    import duckdb

    rng = np.random.default_rng(15)
    left = rng.integers(0, 300, 3000)
    hours = np.where(rng.random(3000) < 0.5, np.round(rng.random(3000) * 40), rng.random(3000) * 1000 / 7)
    days = np.arange(-2, 320)
    counts, lines = thresholds.window_quantiles(left, hours, days)
    con = duckdb.connect()
    con.register("stays", {"left_day": left, "hours": hours})
    con.register("days", {"day": days})
    expected = dict(con.sql(f"""
        select days.day, quantile_cont(stays.hours, {thresholds.QUANTILE})
        from days inner join stays
            on stays.left_day > days.day - {thresholds.WINDOW_DAYS} and stays.left_day <= days.day
        group by days.day
    """).fetchall())
    assert len(expected) == np.count_nonzero(counts) > 0
    for day, line in zip(days, lines):
        if int(day) in expected:
            assert line == pytest.approx(expected[int(day)], rel=1e-14, abs=0), day
        else:
            assert np.isnan(line)
