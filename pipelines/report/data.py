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

from pipelines.report.funnels import STALE_AFTER_DAYS, load_funnels
from pipelines.report.managers import load_managers
from pipelines.report.model import (
    Account,
    ChannelCac,
    Forecast,
    Loss,
    ReportData,
    SalesTotals,
    Satisfaction,
    Scope,
    shift_months,
)
from pipelines.report.rows import columns, dict_rows, exact_sum

ALL = "all"
GRAINS = ("day", "week", "month")
TREND_LENGTH = {"day": 60, "week": 26, "month": 13}  # periods shown per grain, ending with the current one
MAX_PIPELINES = 10  # pipelines offered as filters and funnels, most leads first
MAX_MANAGERS = 20  # managers offered as filters, most revenue first (the manager table lists everyone)
FUNNEL_MONTHS = 12  # funnel cohorts: leads created in the last 12 months, current one included
__all__ = ["ALL", "GRAINS", "STALE_AFTER_DAYS", "TREND_LENGTH", "load", "read_account"]


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
        funnels=load_funnels(con, pipelines, funnel_since, today),
        funnel_since=funnel_since,
        managers=load_managers(con, month),
    )


def read_account(con: duckdb.DuckDBPyConnection) -> Account:
    """Language, currency and timezone: `marts.dim_account` if published, else the raw account table."""
    wanted = [f.name for f in fields(Account) if f.name not in ("simulated", "source_host")]
    for schema, table in (("marts", "dim_account"), ("raw_amocrm", "account")):
        present = [c for c in wanted if c in columns(con, schema, table)]
        if present:
            rows = dict_rows(con, f"select {', '.join(present)} from {schema}.{table} limit 1")
            if rows:
                return replace(Account(**{c: (None if v is None else str(v)) for c, v in rows[0].items()}),
                               **_read_source(con))
    return Account(**_read_source(con))


def _read_source(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Where the data came from (`marts.meta_source`, published with the marts), for the header."""
    if not {"simulated", "base_url_host"} <= columns(con, "marts", "meta_source"):
        return {}
    rows = dict_rows(con, "select simulated, base_url_host from marts.meta_source limit 1")
    return {"simulated": bool(rows[0]["simulated"]), "source_host": rows[0]["base_url_host"]} if rows else {}


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
    rows = dict_rows(con, f"""
        with scoped as (
            select {_SCOPE_KEYS} as scope, * from marts.fct_sales_kpi where {where}
        )
        select scope, period_grain, period_start,
               coalesce(sum(leads_created), 0) as leads_created, coalesce(sum(deals_won), 0) as deals_won,
               coalesce(sum(revenue_won), 0) as revenue_won, coalesce(sum(deals_lost), 0) as deals_lost,
               coalesce({exact_sum("sales_cycle_days_mean * deals_won")} filter (where sales_cycle_days_mean is not null), 0)
                 as cycle_days_sum,
               coalesce(sum(deals_won) filter (where sales_cycle_days_mean is not null), 0) as cycle_deals
        from scoped where list_contains(?, scope)
        group by all
        """, [v for w in windows for v in w] + [scopes])
    return {
        (r["scope"], r["period_grain"], r["period_start"]): SalesTotals(
            leads_created=int(r["leads_created"]), deals_won=int(r["deals_won"]), revenue_won=Decimal(r["revenue_won"]),
            deals_lost=int(r["deals_lost"]), cycle_days_sum=float(r["cycle_days_sum"]), cycle_deals=int(r["cycle_deals"]),
        )
        for r in rows
    }


def _satisfaction(con, scopes, months, nps_counts: bool) -> dict[tuple[str, date], Satisfaction]:
    if nps_counts:
        measures = "sum(responses) as responses, 100.0 * (sum(promoters) - sum(detractors)) as nps_sum"
    else:
        measures = ("sum(responses) filter (where nps is not null) as responses, "
                    f"{exact_sum('nps * responses')} filter (where nps is not null) as nps_sum")
    rows = dict_rows(con, f"""
        with scoped as (
            select {_MANAGER_SCOPE_KEYS} as scope, * from marts.fct_satisfaction
            where period_grain = 'month' and list_contains(?, period_start)
        )
        select scope, period_start, {measures} from scoped where list_contains(?, scope) group by all
        """, [months, scopes])
    return {(r["scope"], r["period_start"]): Satisfaction(int(r["responses"] or 0), float(r["nps_sum"] or 0))
            for r in rows}


def _cac(con, months) -> dict[date, list[ChannelCac]]:
    rows = dict_rows(con, """
        select
            month,
            coalesce(channel, 'unknown') as channel,
            sum(marketing_spend) as marketing_spend,
            coalesce(sum(new_customers), 0) as new_customers,
            max(source_name) as source_name
        from marts.fct_cac where list_contains(?, month)
        group by all order by month, marketing_spend desc nulls last, new_customers desc, channel
        """, [months])
    result: dict[date, list[ChannelCac]] = {m: [] for m in months}
    for r in rows:
        spend = r["marketing_spend"]
        result[r["month"]].append(ChannelCac(r["channel"], None if spend is None else Decimal(spend),
                                             int(r["new_customers"]), r["source_name"]))
    return result


def _forecast(con, scopes) -> dict[str, Forecast]:
    money = ("open_value", "weighted_value", "month_to_date_revenue", "month_run_rate")
    rows = dict_rows(con, f"""
        with scoped as (select {_SCOPE_KEYS} as scope, * from marts.fct_forecast)
        select scope, coalesce(sum(open_deals), 0) as open_deals,
               {", ".join(f"coalesce(sum({m}), 0) as {m}" for m in money)}
        from scoped where list_contains(?, scope) group by all
        """, [scopes])
    return {r["scope"]: Forecast(int(r["open_deals"]), *(Decimal(r[m]) for m in money)) for r in rows}


def _losses(con, scopes, months, by_stage: bool) -> dict[tuple[str, date], list[Loss]]:
    if by_stage:
        # Active status ids are unique across pipelines (only 142/143 repeat), and a lead lost after a
        # move was lost at a stage of its former pipeline: look the stage up by its id alone.
        keys = "f.lost_at_status_id"
        label = "s.status_name as name, s.pipeline_name as pipeline"
        label_keys = "s.status_name, s.pipeline_name"
        join = (
            "left join marts.dim_pipeline_stages s "
            "on s.status_id = f.lost_at_status_id and not s.is_won and not s.is_lost"
        )
    else:
        keys = "f.loss_reason"
        label = "f.loss_reason as name, null as pipeline"
        label_keys = "f.loss_reason"
        join = ""
    rows = dict_rows(con, f"""
        with scoped as (
            select {_SCOPE_KEYS} as scope, * from marts.fct_lost_deals
            where period_grain = 'month' and list_contains(?, period_start)
        )
        select f.scope, f.period_start, {label}, sum(f.deals_lost) as deals_lost,
               coalesce(sum(f.value_lost), 0) as value_lost
        from scoped f {join}
        where list_contains(?, f.scope)
        group by f.scope, f.period_start, {keys}, {label_keys}
        having sum(f.deals_lost) > 0
        order by deals_lost desc, value_lost desc, name
        """, [months, scopes])
    result: dict[tuple[str, date], list[Loss]] = {}
    for r in rows:
        loss = Loss(r["name"], r["pipeline"], int(r["deals_lost"]), Decimal(r["value_lost"]))
        result.setdefault((r["scope"], r["period_start"]), []).append(loss)
    return result
