"""The manager table: this month's sales, activity and plan per manager (`fct_sales_kpi`, `fct_manager_activity`,
`fct_plan_vs_fact`), everyone with numbers or still active."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb

from pipelines.report.model import ManagerRow
from pipelines.report.rows import dict_rows


def _optional(value, kind):
    return None if value is None else kind(value)


def load_managers(con: duckdb.DuckDBPyConnection, month: date) -> list[ManagerRow]:
    """Everyone with sales, activity or a plan this month, or still active, most revenue first."""
    rows = dict_rows(con, """
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
        select ids.manager_id, m.manager_name as name, m.group_name as "group", coalesce(m.is_active, true) as is_active,
               coalesce(s.revenue_won, 0) as revenue_won, coalesce(s.deals_won, 0) as deals_won,
               coalesce(s.deals_lost, 0) as deals_lost, coalesce(a.calls, 0) as calls,
               coalesce(a.meetings, 0) as meetings, coalesce(a.messages, 0) as messages,
               p.target_revenue, p.plan_revenue_won, p.target_deals, p.plan_deals_won
        from ids
        left join marts.dim_managers m using (manager_id)
        left join sales s using (manager_id)
        left join activity a using (manager_id)
        left join plan p using (manager_id)
        where ids.manager_id is not null
        order by coalesce(s.revenue_won, 0) desc, coalesce(s.deals_won, 0) desc, m.manager_name, ids.manager_id
        """, [month, month, month])
    return [
        ManagerRow(
            manager_id=r["manager_id"], name=r["name"], group=r["group"], is_active=bool(r["is_active"]),
            revenue_won=Decimal(r["revenue_won"]), deals_won=int(r["deals_won"]), deals_lost=int(r["deals_lost"]),
            calls=int(r["calls"]), meetings=int(r["meetings"]), messages=int(r["messages"]),
            target_revenue=_optional(r["target_revenue"], Decimal),
            plan_revenue_won=_optional(r["plan_revenue_won"], Decimal),
            target_deals=_optional(r["target_deals"], int), plan_deals_won=_optional(r["plan_deals_won"], int),
        )
        for r in rows
    ]
