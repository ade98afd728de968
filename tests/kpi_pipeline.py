"""The pipeline-path parts of kpi_reference: the stages of each pipeline's path and the forecast.

Like kpi_reference, this shares no code with the dbt project (see its docstring for the conventions).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

WON, LOST = 142, 143


def cents(amount: Fraction) -> Decimal:
    """An exact non-negative amount rounded half up to cents, once."""
    return Decimal(int(amount * 100 + Fraction(1, 2))) / 100



def path_stages(statuses: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Path stages: incoming first, working stages by sort, 142 last; 143 is not a stage. A deleted
    status the history names comes right after the listed active stage leads most often entered it
    from (ties: the later stage; none: the incoming stage), several there by id."""
    statuses = statuses.rename(columns={"id": "status_id"})
    listed = statuses[statuses["status_id"] != LOST].copy()
    listed["rank"] = np.where(listed["type"] == 1, 0, np.where(listed["status_id"] == WON, 2, 1))
    listed["is_deleted"] = False
    known = set(zip(statuses["pipeline_id"], statuses["status_id"]))
    history = history.sort_values(["lead_id", "stay_number"])
    before = history.groupby("lead_id")[["pipeline_id", "status_id"]].shift()
    rows = []
    for (pipeline, status), stays in history.groupby(["pipeline_id", "status_id"]):
        if (pipeline, status) in known or status == LOST:
            continue
        came_from = before.loc[stays.index]
        came_from = came_from[came_from["pipeline_id"] == pipeline].merge(
            listed[(listed["pipeline_id"] == pipeline) & (listed["status_id"] != WON)], on=["pipeline_id", "status_id"])
        if came_from.empty:
            anchor = listed[(listed["pipeline_id"] == pipeline) & (listed["rank"] == 0)]
            rank, sort = (0, int(anchor["sort"].min())) if len(anchor) else (0, -1)
        else:
            counts = came_from.groupby(["rank", "sort", "status_id"]).size().reset_index(name="entries")
            best = counts.sort_values(["entries", "rank", "sort", "status_id"]).iloc[-1]
            rank, sort = int(best["rank"]), int(best["sort"])
        rows.append(dict(pipeline_id=pipeline, status_id=status, rank=2 if status == WON else rank, sort=sort,
                         is_deleted=True))
    path = pd.concat([listed, pd.DataFrame(rows, columns=["pipeline_id", "status_id", "rank", "sort", "is_deleted"])])
    path = path.sort_values(["pipeline_id", "rank", "sort", "is_deleted", "status_id"])
    path["stage_order"] = path.groupby("pipeline_id").cumcount() + 1
    path["is_last"] = path["stage_order"] == path.groupby("pipeline_id")["stage_order"].transform("max")
    return path[["pipeline_id", "status_id", "stage_order", "is_last", "is_deleted"]].reset_index(drop=True)


def forecast(reference: Any) -> pd.DataFrame:
    """fct_forecast from a KpiReference. A stage's win probability: of the leads that reached it and were closed (won or lost) in the
    trailing window, the share won in that pipeline; open leads are not counted. Money is exact
    (fractions) and rounded half up to cents once."""
    leads = reference.leads[~reference.leads["is_deleted"]]
    window_start = reference.extracted_at - reference.forecast_window_days * 86_400
    closed = leads[(leads["is_won"] | leads["is_lost"]) & (leads["closed_at"] > window_start)
                   & (leads["closed_at"] <= reference.extracted_at)]
    history = reference.history.merge(reference.stages, on=["pipeline_id", "status_id"])
    furthest = history.groupby(["lead_id", "pipeline_id"])["stage_order"].max().reset_index()
    furthest = furthest.merge(closed[["lead_id", "pipeline_id", "is_won"]], on="lead_id", suffixes=("", "_now"))
    furthest["won_here"] = furthest["is_won"] & (furthest["pipeline_id_now"] == furthest["pipeline_id"])
    probability = {}
    for stage in reference.stages.itertuples():
        reached = furthest[(furthest["pipeline_id"] == stage.pipeline_id)
                           & (furthest["stage_order"] >= stage.stage_order)]
        probability[(stage.pipeline_id, stage.status_id)] = (
            Fraction(int(reached["won_here"].sum()), len(reached)) if len(reached) else Fraction(0))
    open_deals = leads[~leads["is_won"] & ~leads["is_lost"]]
    now_us = round(reference.extracted_at * 1_000_000)
    now_local = pd.Timestamp(now_us, unit="us", tz="UTC").tz_convert(reference.tz).tz_localize(None)
    month_start = now_local.normalize().replace(day=1)
    elapsed_us = (now_local - month_start) // pd.Timedelta(microseconds=1)
    won_this_month = leads[leads["is_won"] & leads["closed_date"].notna()
                           & (leads["closed_date"] >= month_start.date())
                           & (leads["closed_at"] <= reference.extracted_at)]
    keys = set(zip(open_deals["pipeline_id"], open_deals["manager_id"])) | set(
        zip(won_this_month["pipeline_id"], won_this_month["manager_id"]))
    rows = []
    for pipeline, manager in keys:
        mine = open_deals[(open_deals["pipeline_id"] == pipeline) & (open_deals["manager_id"] == manager)]
        mtd = int(won_this_month.loc[(won_this_month["pipeline_id"] == pipeline)
                                     & (won_this_month["manager_id"] == manager), "price"].sum())
        weighted = sum((int(p) * probability.get((pipeline, s), Fraction(0))
                        for p, s in zip(mine["price"], mine["status_id"])), Fraction(0))
        run_rate = Fraction(mtd * now_local.days_in_month * 86_400 * 1_000_000, elapsed_us) if elapsed_us else None
        rows.append(dict(pipeline_id=pipeline, manager_id=manager, open_deals=len(mine),
                         open_value=int(mine["price"].sum()), weighted_value=cents(weighted),
                         month_to_date_revenue=mtd,
                         month_run_rate=None if run_rate is None else cents(run_rate)))
    return pd.DataFrame(rows)
