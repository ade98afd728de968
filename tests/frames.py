"""Comparing two frames row by row, by key, listing every difference (used to check marts against
kpi_reference; a module of its own name, as tests have no packages)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _plain(value: Any) -> Any:
    """A comparable Python value: numpy scalars unwrapped, NaN/NaT/None as None."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _key_value(value: Any) -> Any:
    value = _plain(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame, key: list[str],
                        approx: tuple[str, ...] = (), rel: float = 1e-9, abs_tol: float = 1e-9) -> None:
    """Same rows (by `key`) and, in every column of `expected`, the same values: exact, except the
    float columns named in `approx`, compared within `rel`/`abs_tol`. Lists every difference."""
    missing_columns = set(expected.columns) - set(actual.columns)
    assert not missing_columns, f"columns missing from the mart: {sorted(missing_columns)}"

    def rows(frame: pd.DataFrame) -> dict[tuple, dict[str, Any]]:
        out = {}
        for record in frame.to_dict("records"):
            k = tuple(_key_value(record[c]) for c in key)
            assert k not in out, f"duplicate key {dict(zip(key, k))}"
            out[k] = record
        return out

    got, want = rows(actual), rows(expected)
    problems = [f"missing row {dict(zip(key, k))}" for k in want.keys() - got.keys()]
    problems += [f"unexpected row {dict(zip(key, k))}" for k in got.keys() - want.keys()]
    for k in want.keys() & got.keys():
        for column in expected.columns:
            if column in key:
                continue
            a, e = _plain(got[k][column]), _plain(want[k][column])
            if column in approx and a is not None and e is not None:
                same = abs(float(a) - float(e)) <= max(abs_tol, rel * abs(float(e)))
            else:
                same = a == e
            if not same:
                problems.append(f"{dict(zip(key, k))} {column}: mart {a!r} != reference {e!r}")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(sorted(problems)[:40])
