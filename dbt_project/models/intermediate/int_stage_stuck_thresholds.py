"""Per stage and day: the 90th percentile of the completed stays left in the 180 days ending that day.

A Python model because the SQL forms are too slow at a million leads: a windowed quantile_cont over
RANGE frames is evaluated on every stay row (35 s for 400,000 stays), and a join of days to their
windows makes 180 rows per stay. Here a stage's stays are ranked by length and cut into about sqrt(n)
blocks of consecutive ranks; a running count of each block's stays per day gives, for any day's
window, the block holding the k-th shortest stay, and only that block is searched. Exact: the same
linear interpolation between the two nearest ranks as quantile_cont and numpy's quantile (rounded as
numpy rounds it; DuckDB's fused multiply-add may differ in the last bit).

Rebuilt in full every run (about 0.65 CPU s at a million leads; see the model's YAML for why not by day).
"""

from __future__ import annotations

import numpy as np

WINDOW_DAYS = 180
QUANTILE = 0.9
EPOCH = np.datetime64("1970-01-01", "D")


def _day_numbers(values) -> np.ndarray:
    return (np.asarray(values, dtype="datetime64[D]") - EPOCH).astype(np.int64)


def window_quantiles(left: np.ndarray, hours: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of the consecutive `days`: how many stays were left in the window ending that day, and
    the QUANTILE of their `hours` (NaN for none). `left`: the day number each stay was left."""
    n = len(hours)
    counts_out, lines = np.zeros(len(days), dtype=np.int64), np.full(len(days), np.nan)
    if n == 0 or len(days) == 0:
        return counts_out, lines
    # any order of equal lengths gives the same k-th length; quicksort costs a third of a stable sort
    order = np.argsort(hours)
    hours, left = hours[order], left[order]
    size = max(int(np.sqrt(n)), 1)
    blocks = (n + size - 1) // size
    base = min(int(left.min()), int(days[0]))
    span = max(int(left.max()), int(days[-1])) - base + 1
    per_day = np.bincount((left - base) * blocks + np.arange(n) // size, minlength=span * blocks)
    running = np.vstack([np.zeros(blocks, np.int64), np.cumsum(per_day.reshape(span, blocks), axis=0)])
    in_window = running[days - base + 1] - running[np.clip(days - WINDOW_DAYS + 1 - base, 0, span)]
    through = np.cumsum(in_window, axis=1)
    counts_out = through[:, -1]

    def kth(rows: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The k-th shortest (0-based) stay in the window of each of the days `rows`, all at once."""
        block = (through[rows] <= k[:, None]).sum(axis=1)  # the block holding it
        skip = k - (through[rows, block] - in_window[rows, block])
        at = block[:, None] * size + np.arange(size)  # the block's ranks, row by row
        ranks = np.minimum(at, n - 1)
        day = days[rows][:, None]
        inside = (at < n) & (left[ranks] > day - WINDOW_DAYS) & (left[ranks] <= day)
        nth = np.argmax(np.cumsum(inside, axis=1) > skip[:, None], axis=1)  # its skip-th stay in the window
        return hours[ranks[np.arange(len(rows)), nth]]

    # many days at once (a loop over days cost 10,000 small numpy calls per build, holding the GIL),
    # at most about a million ranks searched per step
    present = np.flatnonzero(counts_out > 0)
    for start in range(0, len(present), max(1_000_000 // size, 1)):
        rows = present[start:start + max(1_000_000 // size, 1)]
        position = QUANTILE * (counts_out[rows] - 1)
        k = np.floor(position).astype(np.int64)
        low = kth(rows, k)
        high = kth(rows, np.minimum(k + 1, counts_out[rows] - 1))
        lines[rows] = np.where(position == k, low, low + (position - k) * (high - low))
    return counts_out, lines


def _read_stays(stays_relation):
    """The stays as numpy arrays grouped by stage: (stage keys, per stage its slice bounds, left day, hours).

    Read unsorted, with each stage's index (0, 1, ... in key order) joined from a constant list of the
    few stages: sorting three million rows by stage and length in DuckDB cost twice the read, and
    numbering the stages with a window over the stays cost as much as the read. numpy groups the rows by
    the small stage index (a 16-bit key sorts by radix) and window_quantiles sorts each stage's lengths."""
    keys = stays_relation.query("stays", "select account_id, pipeline_id, status_id from stays group by all "
                                "order by all").fetchall()
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return keys, empty, empty, empty, np.zeros(0, dtype=np.float64)
    numbered = ", ".join(f"({int(a)}, {int(p)}, {int(s)}, {i})" for i, (a, p, s) in enumerate(keys))
    stays = stays_relation.query("stays", f"""
        select stages.stage, cast(stays.left_date - date '1970-01-01' as bigint) as day,
            cast(stays.hours_in_status as double) as hours
        from stays
        inner join (values {numbered}) as stages (account_id, pipeline_id, status_id, stage)
            using (account_id, pipeline_id, status_id)
    """).fetchnumpy()
    stage = np.asarray(stays["stage"], dtype="int64")
    order = np.argsort(stage.astype(np.uint16) if len(keys) <= 65536 else stage, kind="stable")
    sizes = np.bincount(stage, minlength=len(keys))
    ends = np.cumsum(sizes)
    left = np.asarray(stays["day"], dtype="int64")[order]
    hours = np.asarray(stays["hours"], dtype="float64")[order]
    return keys, ends - sizes, ends, left, hours


def _account_days(calendar_relation) -> dict:
    """Each account's own days (its calendar, in its timezone) as day numbers; none when it has no day."""
    rows = calendar_relation.query("calendar", "select account_id, first_day, last_day from calendar").fetchall()
    days = {}
    for account, first, last in rows:
        known = first is not None and last is not None
        first_number, last_number = _day_numbers([first, last]) if known else (0, -1)
        days[account] = np.arange(first_number, last_number + 1)
    return days


def model(dbt, session):
    dbt.config(materialized="table")
    account_days = _account_days(dbt.ref("int_pipeline_calendar"))
    keys, starts, ends, left, hours = _read_stays(dbt.ref("int_lead_stage_stays"))
    columns = {name: [np.zeros(0, dtype=np.int64)] for name in ("account_id", "pipeline_id", "status_id", "day",
                                                                 "stays_in_window")}
    columns["hours_p90"] = [np.zeros(0, dtype=np.float64)]
    for (account, pipeline, status), start, end in zip(keys, starts, ends):
        days = account_days.get(account, np.arange(0, 0))
        counts, lines = window_quantiles(left[start:end], hours[start:end], days)
        for name, value in (("account_id", account), ("pipeline_id", pipeline), ("status_id", status)):
            columns[name].append(np.full(len(days), value, dtype=np.int64))
        columns["day"].append(days.astype(np.int64))
        columns["stays_in_window"].append(counts.astype(np.int64))
        columns["hours_p90"].append(lines.astype(np.float64))
    # numpy arrays, not a pandas frame: importing pandas alone cost as much CPU as the whole computation
    session.register("stuck_thresholds_frame", {name: np.concatenate(parts) for name, parts in columns.items()})
    # a day with no stay in its window has no line: null, not NaN (DuckDB orders NaN above every number)
    return session.sql(
        "select account_id, pipeline_id, status_id, cast(date '1970-01-01' + cast(day as integer) as date) as threshold_date, "
        "stays_in_window, case when isnan(hours_p90) then null else hours_p90 end as hours_p90 "
        "from stuck_thresholds_frame")
