"""The issue-15 marts of the small serving copy, derived from the same generated leads (`live`).

Response times with a long tail and unanswered leads, the open pipeline of every
day, two hygiene snapshots (yesterday's differs, so reading the wrong day shows),
and breakdowns by multi-valued tags, channel and a city field.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

TZ = ZoneInfo("Europe/Moscow")
MORNING_TABLES = ("fct_response", "fct_pipeline_daily", "fct_crm_hygiene", "fct_sales_by_dimension")
SLA_MINUTES = 15
TAGS = {1: ["VIP"], 2: ["Выставка"], 3: ["VIP", "Повторный"]}  # by lead_id % 4; 0: no tag
CITIES = ["Москва", "Казань", None]


def derive_morning(con: duckdb.DuckDBPyConnection, today: date) -> None:
    """The issue-15 marts: response times, the daily open pipeline, two hygiene snapshots, breakdowns."""
    now = datetime.combine(today, datetime.min.time(), TZ) + timedelta(hours=9)
    con.execute(
        """
        create temp table answered as
        select *, case when hash(lead_id, 'r') % 6 = 0 then null  -- most within minutes, a long tail of hours
                    else round(240 * power((hash(lead_id, 'm') % 1000) / 1000.0, 3), 1) end as fr
        from live
        """
    )
    con.execute(
        """
        insert into marts.fct_response
        with leads as (
            select *, fr is not null or created_at <= ?::timestamptz - interval 15 minute as elapsed,
                   case when fr is null then 0 else 1 + hash(lead_id, 't') % 3 end as t24
            from answered
        )
        select g.grain, bucket(created_day, g.grain), pipeline_id, manager_id, count(*), count(fr),
               count(*) filter (where fr <= ?), count(*) filter (where elapsed),
               (count(*) filter (where fr <= ?)) / nullif(count(*) filter (where elapsed), 0),
               median(fr), quantile_cont(fr, 0.9), sum(t24), sum(t24 + hash(lead_id, 'u') % 3),
               count(*) filter (where fr is null and created_at <= ?::timestamptz - interval 14 day)
        from leads, grains g group by all
        """,
        [now, SLA_MINUTES, SLA_MINUTES, now],
    )
    con.execute(
        """
        insert into marts.fct_pipeline_daily
        with days as (
            select cast(d as date) as day
            from range((select min(created_day) from live), ?::date + 1, interval 1 day) t(d)
        ), leads as (
            select *, case when status_id in (142, 143)
                           then coalesce(lost_at_status_id, case pipeline_id when 1001 then 11 else 21 end)
                           else status_id end as day_status
            from live
        )
        select day, pipeline_id, day_status, manager_id, count(*), sum(coalesce(price, 0)),
               count(*) filter (where hash(lead_id, day) % 10 = 0)
        from days join leads on created_day <= day and (closed_day is null or closed_day > day)
        group by all
        """,
        [today],
    )
    con.execute(
        """
        insert into marts.fct_crm_hygiene
        with snapshots(day, seed) as (values (?::date - 1, 'y'), (?::date, 't'))
        select day, manager_id, count(*),
               count(*) filter (where hash(lead_id, seed, 1) % 3 = 0),
               count(*) filter (where hash(lead_id, seed, 1) % 3 <> 0 and hash(lead_id, seed, 2) % 5 = 0),
               count(*) filter (where coalesce(price, 0) = 0),
               count(*) filter (where hash(lead_id, seed, 3) % 7 = 0),
               count(*) filter (where hash(lead_id, seed, 4) % 4 = 0),
               count(*) filter (where hash(lead_id, seed, 5) % 6 = 0),
               ?::timestamptz - (case seed when 'y' then interval 1 day else interval 3 hour end)
        from snapshots, live
        where not is_won and not is_lost and created_day <= day
        group by all
        """,
        [today, today, now],
    )
    dims = pd.DataFrame(
        [(lead_id, "tag", tag) for lead_id in range(1, 100_000) for tag in TAGS.get(lead_id % 4, [])]
        + [(lead_id, "city", CITIES[lead_id % 3]) for lead_id in range(1, 100_000)],
        columns=["lead_id", "dimension", "dimension_value"],
    )
    con.register("dims", dims)
    con.execute(
        """
        insert into marts.fct_sales_by_dimension
        with values_ as (
            select l.*, d.dimension, coalesce(d.dimension_value, 'not specified') as dimension_value
            from live l join dims d using (lead_id)
            union all
            select l.*, 'tag', 'not specified' from live l where lead_id % 4 = 0
            union all
            select l.*, 'channel', channel from live l
        ), created as (
            select g.grain, bucket(created_day, g.grain) as p, pipeline_id, dimension, dimension_value, count(*) as n
            from values_, grains g group by all
        ), closed as (
            select g.grain, bucket(closed_day, g.grain) as p, pipeline_id, dimension, dimension_value,
                   count(*) filter (where is_won) as won, sum(coalesce(price, 0)) filter (where is_won) as revenue,
                   count(*) filter (where is_lost) as lost
            from values_, grains g where closed_day is not null group by all
        )
        select grain, p, pipeline_id, dimension, dimension_value, coalesce(c.n, 0), coalesce(d.won, 0),
               coalesce(d.revenue, 0), coalesce(d.lost, 0)
        from created c full join closed d using (grain, p, pipeline_id, dimension, dimension_value)
        """
    )


def derive_large_morning(con: duckdb.DuckDBPyConnection, today: date, managers: int, pipelines: int) -> None:
    """The issue-15 marts of a big account straight as facts: every manager, pipeline and stage, 100 days,
    and 200 tag values (more than a breakdown lists)."""
    con.execute(
        """
        insert into marts.fct_response
        select g.grain, cast(date_trunc(g.grain, d) as date), p, m, 5, 4, 2, 5, 0.4, 12.5, 90.0, 8, 20, 1
        from range(?::date - interval 100 day, ?::date + interval 1 day, interval 1 day) t(d),
             range(1, ?) a(p), range(1, ?) b(m), (select unnest(['day', 'week', 'month']) as grain) g
        where hash(d, p, m) % 7 = 0
        """,
        [today, today, pipelines + 1, managers + 1],
    )
    con.execute(
        """
        insert into marts.fct_pipeline_daily
        select cast(d as date), s.pipeline_id, s.status_id, m, 1 + hash(d, s.status_id, m) % 5, 250000, hash(d, m) % 2
        from range(?::date - interval 100 day, ?::date + interval 1 day, interval 1 day) t(d),
             marts.dim_pipeline_stages s, range(1, ?) b(m)
        where not s.is_won and not s.is_lost and m % 10 = 0
        """,
        [today, today, managers + 1],
    )
    con.execute(
        """
        insert into marts.fct_crm_hygiene
        select ?::date, m, 40, 10, 5, 3, 2, 1, 4, ?::timestamptz from range(1, ?) b(m)
        """,
        [today, datetime.combine(today, datetime.min.time(), TZ), managers + 1],
    )
    con.execute(
        """
        insert into marts.fct_sales_by_dimension
        select 'month', cast(date_trunc('month', ?::date) as date), p, dimension, dimension || ' ' || v,
               10 + v, v % 5, (v % 5) * 100000, v % 3
        from range(1, ?) a(p), range(1, 201) b(v), (select unnest(['tag', 'channel', 'город']) as dimension) d
        """,
        [today, pipelines + 1],
    )
