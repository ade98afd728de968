"""Per stage and day: the 90th percentile of the completed stays left in the 180 days ending that day.

A Python model because the SQL forms are too slow at a million leads: a windowed quantile_cont over
RANGE frames is evaluated on every stay row (35 s for 400,000 stays), and a join of days to their
windows makes 180 rows per stay. Here each stage's stays are sorted by the day they were left, so a
day's window is a slice, and numpy's quantile (linear interpolation, as quantile_cont) partitions it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOW_DAYS = 180
EPOCH = np.datetime64("1970-01-01", "D")


def _day_numbers(values) -> np.ndarray:
    return (np.asarray(values, dtype="datetime64[D]") - EPOCH).astype(np.int64)


def model(dbt, session):
    dbt.config(materialized="table")
    calendar = dbt.ref("int_pipeline_calendar").df()
    stays = dbt.ref("int_lead_stage_stays").project("pipeline_id, status_id, left_date, hours_in_status").df()
    parts = [pd.DataFrame({"pipeline_id": [], "status_id": [], "day": [], "stays_in_window": [], "hours_p90": []})]
    known = not calendar.empty and not pd.isna(calendar["first_day"].iat[0])
    first, last = _day_numbers(calendar[["first_day", "last_day"]].iloc[0].tolist()) if known else (0, -1)
    days = np.arange(first, last + 1)
    for (pipeline, status), group in stays.groupby(["pipeline_id", "status_id"], sort=True):
        left = _day_numbers(group["left_date"])
        order = np.argsort(left, kind="stable")
        left, hours = left[order], group["hours_in_status"].to_numpy(dtype="float64")[order]
        lo = np.searchsorted(left, days - (WINDOW_DAYS - 1), side="left")
        hi = np.searchsorted(left, days, side="right")
        p90 = np.array([np.quantile(hours[a:b], 0.9) if b > a else np.nan for a, b in zip(lo, hi)])
        parts.append(pd.DataFrame({"pipeline_id": pipeline, "status_id": status, "day": days,
                                   "stays_in_window": hi - lo, "hours_p90": p90}))
    out = pd.concat(parts, ignore_index=True).astype({"pipeline_id": "int64", "status_id": "int64", "day": "int64",
                                                      "stays_in_window": "int64", "hours_p90": "float64"})
    session.register("stuck_thresholds_frame", out)
    # a day with no stay in its window has no line: null, not NaN (DuckDB orders NaN above every number)
    return session.sql(
        "select pipeline_id, status_id, cast(date '1970-01-01' + cast(day as integer) as date) as threshold_date, "
        "stays_in_window, case when isnan(hours_p90) then null else hours_p90 end as hours_p90 "
        "from stuck_thresholds_frame")
