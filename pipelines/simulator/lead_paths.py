"""A lead's way through the pipelines: its pipeline, stage path, close, moves and reopens.

Drawn for all leads at once from a [leads x stages] matrix of dwell times and loss
draws; `summarise_path` adds each lead's final status and the end of its active life.
Some wins are planted just around a month end in the account's own timezone, where a
KPI bucketed in the wrong zone lands in the wrong month.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from . import reference as ref
from .activity import DAY, HOUR


def choose_pipelines(rng, repeat: np.ndarray) -> np.ndarray:
    p_new = np.array([p.weight_new for p in ref.PIPELINES])
    p_rep = np.array([p.weight_repeat for p in ref.PIPELINES])
    u = rng.random(len(repeat))
    return np.where(repeat, np.searchsorted(np.cumsum(p_rep), u * p_rep.sum()),
                    np.searchsorted(np.cumsum(p_new), u * p_new.sum())).astype(np.int64)


STAGE_MEDIAN_HOURS = np.array([4, 48, 96, 120, 96, 72], dtype=float)


def paths(rng, created, pipe, end, now, zone: ZoneInfo):
    """Status rows of every lead: the stage path, then pipeline moves and reopens; plus per-lead summaries."""
    n = len(created)
    npos = max(p.positions for p in ref.PIPELINES)
    k = np.array([p.positions for p in ref.PIPELINES])[pipe]
    loss = np.zeros((len(ref.PIPELINES), npos))
    status_of = np.zeros((len(ref.PIPELINES), npos), dtype=np.int64)
    for i, p in enumerate(ref.PIPELINES):
        loss[i, :p.positions] = p.loss
        status_of[i, :p.positions] = [p.status_id(j) for j in range(p.positions)]
    pipeline_ids = np.array([p.id for p in ref.PIPELINES], dtype=np.int64)
    pos = np.arange(npos)
    start_pos = (rng.random(n) < 0.35).astype(np.int64)  # created straight into the first working stage
    lose = (rng.random((n, npos)) < loss[pipe]) & (pos >= start_pos[:, None])
    won = ~lose.any(1)
    last_pos = np.where(won, k - 1, lose.argmax(1))
    skip = (rng.random((n, npos)) < 0.1) & (pos > start_pos[:, None]) & (pos < last_pos[:, None])
    visited = (pos >= start_pos[:, None]) & (pos <= last_pos[:, None]) & ~skip
    dwell = (rng.lognormal(np.log(STAGE_MEDIAN_HOURS * HOUR), 1.0, (n, npos)) + 60).astype(np.int64)
    dwell = np.where(visited, dwell, 0)
    cum = dwell.cumsum(1)
    entered = created[:, None] + cum - dwell
    close = created + cum[:, -1]

    # Timezone boundary cases: some wins land at 23:30-23:59 or 00:00-00:29 account time around a month end.
    won_idx = np.flatnonzero(won & (close < now - 40 * DAY))
    planted = rng.permutation(won_idx)[:max(4, round(0.04 * len(won_idx)))]
    month_start = next_month_start(close[planted] + HOUR, zone)
    late = np.arange(len(planted)) % 2 == 0
    close[planted] = np.where(late, month_start - rng.integers(60, 1800, len(planted)),
                              month_start + rng.integers(0, 1800, len(planted)))
    is_planted = np.zeros(n, bool)
    is_planted[planted] = True

    vi, vp = np.nonzero(visited)
    lead = [vi, np.arange(n)]
    time = [entered[vi, vp], close]
    status = [status_of[pipe[vi], vp], np.where(won, ref.WON, ref.LOST)]
    pipeline = [pipeline_ids[pipe[vi]], pipeline_ids[pipe]]

    # A few lost leads are moved to another pipeline instead, and go on there.
    moved = np.flatnonzero(~won & (rng.random(n) < 0.05))
    other = (pipe[moved] + rng.integers(1, len(ref.PIPELINES), len(moved))) % len(ref.PIPELINES)
    status[1][moved] = status_of[other, 1]
    pipeline[1][moved] = pipeline_ids[other]
    outcome = rng.random(len(moved))
    goes_on = outcome < 0.85
    lead.append(moved[goes_on])
    time.append(close[moved[goes_on]] + (rng.lognormal(np.log(10 * DAY), 0.8, goes_on.sum())).astype(np.int64))
    status.append(np.where(outcome[goes_on] < 0.45, ref.WON, ref.LOST))
    pipeline.append(pipeline_ids[other[goes_on]])

    # A few closed leads are reopened into their last working stage; most close again later.
    reopened = np.flatnonzero((rng.random(n) < 0.03) & ~is_planted)
    reopened = reopened[~np.isin(reopened, moved)]
    r_time = close[reopened] + rng.integers(DAY, 30 * DAY, len(reopened))
    lead.append(reopened)
    time.append(r_time)
    status.append(status_of[pipe[reopened], np.maximum(last_pos[reopened], 1)])
    pipeline.append(pipeline_ids[pipe[reopened]])
    again = rng.random(len(reopened)) < 0.6
    lead.append(reopened[again])
    time.append(r_time[again] + rng.lognormal(np.log(7 * DAY), 0.8, again.sum()).astype(np.int64))
    status.append(np.where(rng.random(again.sum()) < 0.5, ref.WON, ref.LOST))
    pipeline.append(pipeline_ids[pipe[reopened[again]]])

    lead, time, status, pipeline = (np.concatenate(a) for a in (lead, time, status, pipeline))
    keep = time <= end
    lead, time, status, pipeline = lead[keep], time[keep], status[keep], pipeline[keep]
    order = np.lexsort((time, lead))
    lead, time, status, pipeline = lead[order], time[order], status[order], pipeline[order]
    path = dict(lead=lead, time=time, status=status, pipeline=pipeline, start_pos=start_pos, won_path=won,
                last_pos=last_pos, base_close=close)
    return summarise_path(path, n, end)


def summarise_path(path: dict, n: int, end: int) -> dict:
    """Add each lead's final status, the time of its last status row and the end of its active life."""
    lead, time, status = path["lead"], path["time"], path["status"]
    last_row = np.r_[lead[1:] != lead[:-1], True]
    final_status = np.zeros(n, dtype=np.int64)
    final_status[lead[last_row]] = status[last_row]
    last_time = np.zeros(n, dtype=np.int64)
    last_time[lead[last_row]] = time[last_row]
    closed = np.isin(final_status, (ref.WON, ref.LOST))
    return {**path, "final_status": final_status, "last_time": last_time,
            "life_end": np.where(closed, last_time, end)}


def next_month_start(ts: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Unix time of 00:00 on the 1st of the month after each `ts`, both in `zone`.

    Per instant through zoneinfo, not a fixed offset: a zone with DST has two offsets a year.
    """
    starts = []
    for t in ts.tolist():
        local = datetime.fromtimestamp(t, zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        starts.append(int(datetime(year, month, 1, tzinfo=zone).timestamp()))
    return np.array(starts, dtype=np.int64)
