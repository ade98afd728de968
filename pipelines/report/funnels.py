"""The funnel per pipeline: stages reached by the recent cohorts (`marts.fct_funnel`) and the deals open now."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from pipelines.report.model import Funnel, FunnelStage, Scope
from pipelines.report.rows import dict_rows, exact_sum

STALE_AFTER_DAYS = 30  # an open deal older than this counts as sitting too long


def _number(value) -> float | None:
    return None if value is None else float(value)


def load_funnels(con: duckdb.DuckDBPyConnection, pipelines: list[Scope], since: date, today: date) -> list[Funnel]:
    """Stage path per pipeline (won last, lost excluded) over the cohorts since `since`, plus the deals open now."""
    if not pipelines:
        return []
    ids = [p.id for p in pipelines]
    stages = dict_rows(con, f"""
        select s.pipeline_id, s.status_id, s.status_name, s.is_won,
               coalesce(sum(f.reached), 0) as reached, coalesce(sum(f.reached_next), 0) as reached_next,
               coalesce(sum(f.lost_here), 0) as lost_here,
               {exact_sum("f.hours_in_stage_median * f.reached")} filter (where f.hours_in_stage_median is not null)
                 / sum(f.reached) filter (where f.hours_in_stage_median is not null) as hours_median,
               {exact_sum("f.hours_in_stage_p90 * f.reached")} filter (where f.hours_in_stage_p90 is not null)
                 / sum(f.reached) filter (where f.hours_in_stage_p90 is not null) as hours_p90
        from marts.dim_pipeline_stages s
        left join marts.fct_funnel f
          on f.pipeline_id = s.pipeline_id and f.status_id = s.status_id and f.cohort_month >= ?
        where list_contains(?, s.pipeline_id) and not s.is_lost
        group by s.pipeline_id, s.status_id, s.status_name, s.is_won, s.stage_order
        order by s.pipeline_id, s.is_won, s.stage_order, s.status_id
        """, [since, ids])
    open_now = {
        (r["pipeline_id"], r["status_id"]): r
        for r in dict_rows(con, """
            select pipeline_id, status_id, count(*) as open_now,
                   count(*) filter (where cast(created_at as date) < ?) as open_stale
            from marts.fct_leads
            where not is_deleted and not is_won and not is_lost and list_contains(?, pipeline_id)
            group by all
            """, [today - timedelta(days=STALE_AFTER_DAYS), ids])
    }
    by_pipeline: dict[int, list[FunnelStage]] = {i: [] for i in ids}
    for s in stages:
        now = open_now.get((s["pipeline_id"], s["status_id"]), {"open_now": 0, "open_stale": 0})
        won = bool(s["is_won"])  # the end of the path: a won deal does not wait there for anything
        by_pipeline[s["pipeline_id"]].append(FunnelStage(
            status_id=s["status_id"], name=s["status_name"], is_won=won, reached=int(s["reached"]),
            reached_next=int(s["reached_next"]), lost_here=int(s["lost_here"]),
            hours_median=None if won else _number(s["hours_median"]),
            hours_p90=None if won else _number(s["hours_p90"]),
            open_now=int(now["open_now"]), open_stale=int(now["open_stale"]),
        ))
    return [Funnel(p.id, p.name or str(p.id), by_pipeline[p.id]) for p in pipelines if by_pipeline[p.id]]
