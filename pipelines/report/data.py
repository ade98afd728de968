"""Read the published marts into plain Python structures for the report.

Everything is aggregated in SQL, never per lead, so the report stays small for
a large account. Only counts and sums are read, into the types of
`pipelines.report.model`, which compute every ratio from the summed parts.

A *scope* is what the report can be filtered by: the whole account (`all`), one
pipeline (`p:<id>`) or one manager (`m:<id>`). Each fact row counts towards the
account, its pipeline and its manager: the queries unnest those three keys and
group by them, so a single pass yields every scope.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from pipelines.report.model import (
    Account,
    ChannelCac,
    Forecast,
    Funnel,
    FunnelStage,
    Loss,
    ManagerRow,
    ReportData,
    SalesTotals,
    Satisfaction,
    Scope,
    shift_months,
)

ALL = "all"
GRAINS = ("day", "week", "month")
TREND_LENGTH = {"day": 60, "week": 26, "month": 13}  # periods shown per grain, ending with the current one
MAX_PIPELINES = 10  # pipelines offered as filters and funnels, most leads first
MAX_MANAGERS = 20  # managers offered as filters, most revenue first (the manager table lists everyone)
FUNNEL_MONTHS = 12  # funnel cohorts: leads created in the last 12 months, current one included
STALE_AFTER_DAYS = 30  # an open deal older than this counts as sitting too long


def period_start(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def trend_periods(today: date, grain: str) -> list[date]:
    last = period_start(today, grain)
    count = TREND_LENGTH[grain]
    if grain == "month":
        return [shift_months(last, i - count + 1) for i in range(count)]
    step = timedelta(days=7 if grain == "week" else 1)
    return [last - step * (count - 1 - i) for i in range(count)]


def load(con: duckdb.DuckDBPyConnection, today: date, account: Account) -> ReportData:
    """Everything the report shows, for the month containing `today` and the trends ending there."""
    periods = {grain: trend_periods(today, grain) for grain in GRAINS}
    month, previous = periods["month"][-1], periods["month"][-2]
    months = [previous, month]
    scopes = _scopes(con, periods["month"][0], month)
    keys = [s.key for s in scopes]
    pipelines = [s for s in scopes if s.kind == "pipeline"]
    funnel_since = shift_months(month, 1 - FUNNEL_MONTHS)
    nps_counts = {"promoters", "detractors"} <= columns(con, "marts", "fct_satisfaction")
    return ReportData(
        account=account,
        today=today,
        periods=periods,
        scopes=scopes,
        sales=_sales(con, keys, periods),
        satisfaction=_satisfaction(con, keys, months, nps_counts),
        cac=_cac(con, months),
        forecast=_forecast(con, keys),
        losses_by_reason=_losses(con, keys, months, by_stage=False),
        losses_by_stage=_losses(con, keys, months, by_stage=True),
        funnels=_funnels(con, pipelines, funnel_since, today),
        funnel_since=funnel_since,
        managers=_managers(con, month),
    )


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def read_account(con: duckdb.DuckDBPyConnection) -> Account:
    """Language, currency and timezone: `marts.dim_account` if published, else the raw account table."""
    wanted = [f.name for f in fields(Account) if f.name not in ("simulated", "source_host")]
    for schema, table in (("marts", "dim_account"), ("raw_amocrm", "account")):
        present = [c for c in wanted if c in columns(con, schema, table)]
        if present:
            row = con.execute(f"select {', '.join(present)} from {schema}.{table} limit 1").fetchone()
            if row:
                return replace(Account(**{c: (None if v is None else str(v)) for c, v in zip(present, row)}),
                               **_read_source(con))
    return Account(**_read_source(con))


def _read_source(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Where the data came from (`marts.meta_source`, published with the marts), for the header."""
    if not {"simulated", "base_url_host"} <= columns(con, "marts", "meta_source"):
        return {}
    row = con.execute("select simulated, base_url_host from marts.meta_source limit 1").fetchone()
    return {"simulated": bool(row[0]), "source_host": row[1]} if row else {}


_SCOPE_KEYS = "unnest(['all', 'p:' || pipeline_id, 'm:' || manager_id])"
_MANAGER_SCOPE_KEYS = "unnest(['all', 'm:' || manager_id])"


def _scopes(con, since: date, until: date) -> list[Scope]:
    """The account, then the busiest pipelines and the best-selling managers of the trend window."""

    def ranked(column: str, order: str) -> list[int]:
        return [
            r[0]
            for r in con.execute(
                f"""
                select {column} from marts.fct_sales_kpi
                where period_grain = 'month' and period_start between ? and ? and {column} is not null
                group by {column}
                having sum(leads_created) + sum(deals_won) + sum(deals_lost) > 0
                order by {order}, {column}
                """,
                [since, until],
            ).fetchall()
        ]

    pipeline_names = dict(
        con.execute("select distinct pipeline_id, pipeline_name from marts.dim_pipeline_stages").fetchall()
    )
    manager_names = dict(con.execute("select manager_id, manager_name from marts.dim_managers").fetchall())
    pipelines = ranked("pipeline_id", "sum(leads_created) desc")[:MAX_PIPELINES]
    managers = ranked("manager_id", "sum(revenue_won) desc, sum(deals_won) desc")[:MAX_MANAGERS]
    return (
        [Scope(ALL, "all")]
        + [Scope(f"p:{p}", "pipeline", p, pipeline_names.get(p)) for p in pipelines]
        + [Scope(f"m:{m}", "manager", m, manager_names.get(m)) for m in managers]
    )


def _sales(con, scopes: list[str], periods: dict[str, list[date]]) -> dict[tuple[str, str, date], SalesTotals]:
    windows = [(g, periods[g][0], periods[g][-1]) for g in GRAINS]
    where = " or ".join("(period_grain = ? and period_start between ? and ?)" for _ in windows)
    rows = con.execute(
        f"""
        with scoped as (
            select {_SCOPE_KEYS} as scope, * from marts.fct_sales_kpi where {where}
        )
        select scope, period_grain, period_start,
               coalesce(sum(leads_created), 0), coalesce(sum(deals_won), 0), coalesce(sum(revenue_won), 0),
               coalesce(sum(deals_lost), 0),
               coalesce(sum(sales_cycle_days_mean * deals_won) filter (where sales_cycle_days_mean is not null), 0),
               coalesce(sum(deals_won) filter (where sales_cycle_days_mean is not null), 0)
        from scoped where list_contains(?, scope)
        group by all
        """,
        [v for w in windows for v in w] + [scopes],
    ).fetchall()
    return {
        (scope, grain, start): SalesTotals(int(leads), int(won), Decimal(revenue), int(lost), float(cycle), int(cycle_n))
        for scope, grain, start, leads, won, revenue, lost, cycle, cycle_n in rows
    }


def _satisfaction(con, scopes, months, nps_counts: bool) -> dict[tuple[str, date], Satisfaction]:
    if nps_counts:
        measures = "sum(responses), 100.0 * (sum(promoters) - sum(detractors))"
    else:
        measures = "sum(responses) filter (where nps is not null), sum(nps * responses) filter (where nps is not null)"
    rows = con.execute(
        f"""
        with scoped as (
            select {_MANAGER_SCOPE_KEYS} as scope, * from marts.fct_satisfaction
            where period_grain = 'month' and list_contains(?, period_start)
        )
        select scope, period_start, {measures} from scoped where list_contains(?, scope) group by all
        """,
        [months, scopes],
    ).fetchall()
    return {(s, m): Satisfaction(int(n or 0), float(total or 0)) for s, m, n, total in rows}


def _cac(con, months) -> dict[date, list[ChannelCac]]:
    rows = con.execute(
        """
        select
            month,
            coalesce(channel, 'unknown') as channel,
            sum(marketing_spend) as marketing_spend,
            coalesce(sum(new_customers), 0) as new_customers,
            max(source_name) as source_name
        from marts.fct_cac where list_contains(?, month)
        group by all order by month, marketing_spend desc nulls last, new_customers desc, channel
        """,
        [months],
    ).fetchall()
    result: dict[date, list[ChannelCac]] = {m: [] for m in months}
    for month, channel, spend, customers, source_name in rows:
        result[month].append(ChannelCac(channel, None if spend is None else Decimal(spend), int(customers),
                                        source_name))
    return result


def _forecast(con, scopes) -> dict[str, Forecast]:
    rows = con.execute(
        f"""
        with scoped as (select {_SCOPE_KEYS} as scope, * from marts.fct_forecast)
        select scope, coalesce(sum(open_deals), 0), coalesce(sum(open_value), 0), coalesce(sum(weighted_value), 0),
               coalesce(sum(month_to_date_revenue), 0), coalesce(sum(month_run_rate), 0)
        from scoped where list_contains(?, scope) group by all
        """,
        [scopes],
    ).fetchall()
    return {
        scope: Forecast(int(n), Decimal(open_value), Decimal(weighted), Decimal(mtd), Decimal(run_rate))
        for scope, n, open_value, weighted, mtd, run_rate in rows
    }


def _losses(con, scopes, months, by_stage: bool) -> dict[tuple[str, date], list[Loss]]:
    if by_stage:
        # Active status ids are unique across pipelines (only 142/143 repeat), and a lead lost after a
        # move was lost at a stage of its former pipeline: look the stage up by its id alone.
        keys = "f.lost_at_status_id"
        label = "s.status_name, s.pipeline_name"
        join = (
            "left join marts.dim_pipeline_stages s "
            "on s.status_id = f.lost_at_status_id and not s.is_won and not s.is_lost"
        )
    else:
        keys = "f.loss_reason"
        label = "f.loss_reason, null"
        join = ""
    rows = con.execute(
        f"""
        with scoped as (
            select {_SCOPE_KEYS} as scope, * from marts.fct_lost_deals
            where period_grain = 'month' and list_contains(?, period_start)
        )
        select f.scope, f.period_start, {label}, sum(f.deals_lost), coalesce(sum(f.value_lost), 0)
        from scoped f {join}
        where list_contains(?, f.scope)
        group by f.scope, f.period_start, {keys}, {label}
        having sum(f.deals_lost) > 0
        order by 5 desc, 6 desc, 3
        """,
        [months, scopes],
    ).fetchall()
    result: dict[tuple[str, date], list[Loss]] = {}
    for scope, month, name, pipeline, deals, value in rows:
        result.setdefault((scope, month), []).append(Loss(name, pipeline, int(deals), Decimal(value)))
    return result


def _funnels(con, pipelines: list[Scope], since: date, today: date) -> list[Funnel]:
    """Stage path per pipeline (won last, lost excluded) over the recent cohorts, plus the deals open now."""
    if not pipelines:
        return []
    ids = [p.id for p in pipelines]
    stages = con.execute(
        """
        select s.pipeline_id, s.status_id, s.status_name, s.is_won,
               coalesce(sum(f.reached), 0), coalesce(sum(f.reached_next), 0), coalesce(sum(f.lost_here), 0),
               sum(f.hours_in_stage_median * f.reached) filter (where f.hours_in_stage_median is not null)
                 / sum(f.reached) filter (where f.hours_in_stage_median is not null),
               sum(f.hours_in_stage_p90 * f.reached) filter (where f.hours_in_stage_p90 is not null)
                 / sum(f.reached) filter (where f.hours_in_stage_p90 is not null)
        from marts.dim_pipeline_stages s
        left join marts.fct_funnel f
          on f.pipeline_id = s.pipeline_id and f.status_id = s.status_id and f.cohort_month >= ?
        where list_contains(?, s.pipeline_id) and not s.is_lost
        group by s.pipeline_id, s.status_id, s.status_name, s.is_won, s.stage_order
        order by s.pipeline_id, s.is_won, s.stage_order, s.status_id
        """,
        [since, ids],
    ).fetchall()
    stale_before = today - timedelta(days=STALE_AFTER_DAYS)
    open_now = {
        (p, s): (int(n), int(stale))
        for p, s, n, stale in con.execute(
            """
            select pipeline_id, status_id, count(*), count(*) filter (where cast(created_at as date) < ?)
            from marts.fct_leads
            where not is_deleted and not is_won and not is_lost and list_contains(?, pipeline_id)
            group by all
            """,
            [stale_before, ids],
        ).fetchall()
    }
    by_pipeline: dict[int, list[FunnelStage]] = {i: [] for i in ids}
    for pipeline_id, status_id, name, is_won, reached, reached_next, lost, median, p90 in stages:
        n, stale = open_now.get((pipeline_id, status_id), (0, 0))
        if is_won:  # the end of the path: a won deal does not wait there for anything
            median = p90 = None
        by_pipeline[pipeline_id].append(
            FunnelStage(
                status_id, name, bool(is_won), int(reached), int(reached_next), int(lost),
                None if median is None else float(median), None if p90 is None else float(p90), n, stale,
            )
        )
    return [Funnel(p.id, p.name or str(p.id), by_pipeline[p.id]) for p in pipelines if by_pipeline[p.id]]


def _managers(con, month: date) -> list[ManagerRow]:
    """Everyone with sales, activity or a plan this month, or still active, most revenue first."""
    rows = con.execute(
        """
        with sales as (
            select manager_id, sum(revenue_won) as revenue_won, sum(deals_won) as deals_won, sum(deals_lost) as deals_lost
            from marts.fct_sales_kpi where period_grain = 'month' and period_start = ? group by all
        ), activity as (
            select manager_id, sum(calls_outgoing + calls_incoming) as calls, sum(meetings_held) as meetings,
                   sum(messages_sent) as messages
            from marts.fct_manager_activity where period_grain = 'month' and period_start = ? group by all
        ), plan as (
            select manager_id, sum(target_revenue) as target_revenue,
                   sum(revenue_won) filter (where target_revenue is not null) as plan_revenue_won,
                   sum(target_deals) as target_deals,
                   sum(deals_won) filter (where target_deals is not null) as plan_deals_won
            from marts.fct_plan_vs_fact where month = ? group by all
        ), ids as (
            select manager_id from sales union select manager_id from activity union select manager_id from plan
            union select manager_id from marts.dim_managers where is_active
        )
        select ids.manager_id, m.manager_name, m.group_name, coalesce(m.is_active, true),
               coalesce(s.revenue_won, 0), coalesce(s.deals_won, 0), coalesce(s.deals_lost, 0),
               coalesce(a.calls, 0), coalesce(a.meetings, 0), coalesce(a.messages, 0),
               p.target_revenue, p.plan_revenue_won, p.target_deals, p.plan_deals_won
        from ids
        left join marts.dim_managers m using (manager_id)
        left join sales s using (manager_id)
        left join activity a using (manager_id)
        left join plan p using (manager_id)
        where ids.manager_id is not null
        order by 5 desc, 6 desc, 2, 1
        """,
        [month, month, month],
    ).fetchall()
    return [
        ManagerRow(
            manager_id=r[0], name=r[1], group=r[2], is_active=bool(r[3]), revenue_won=Decimal(r[4]),
            deals_won=int(r[5]), deals_lost=int(r[6]), calls=int(r[7]), meetings=int(r[8]), messages=int(r[9]),
            target_revenue=None if r[10] is None else Decimal(r[10]),
            plan_revenue_won=None if r[11] is None else Decimal(r[11]),
            target_deals=None if r[12] is None else int(r[12]),
            plan_deals_won=None if r[13] is None else int(r[13]),
        )
        for r in rows
    ]
