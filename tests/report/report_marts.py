"""A small but realistic serving copy: exactly the contract's published tables and columns.

Leads are generated (seeded) and every fact table is derived from them with
SQL, so the marts agree with one another as the real ones do: 2 pipelines
(sharing the won/lost ids 142/143), 3 managers (one inactive), Russian names,
four and a half months of history ending at `TODAY`, empty days, null loss
reasons, null prices, deleted leads, a channel with spend and no customers;
the issue-15 marts come from `report_marts_morning`.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
from report_marts_morning import derive_large_morning, derive_morning

TODAY = date(2026, 10, 15)
TZ = ZoneInfo("Europe/Moscow")

MANAGERS = [
    (101, "Анна Смирнова", 1, "Отдел продаж Москва", True),
    (102, "Иван Петров", 1, "Отдел продаж Москва", True),
    (103, "Ольга Козлова", 2, "Партнёрский отдел", False),
]
STAGES = [  # pipeline_id, pipeline_name, status_id, status_name, stage_order, is_won, is_lost
    (1001, "Основная воронка", 11, "Первичный контакт", 1, False, False),
    (1001, "Основная воронка", 12, "Переговоры", 2, False, False),
    (1001, "Основная воронка", 13, "Принимают решение", 3, False, False),
    (1001, "Основная воронка", 142, "Успешно реализовано", 4, True, False),
    (1001, "Основная воронка", 143, "Закрыто и не реализовано", 5, False, True),
    (1002, "Партнёры", 21, "Заявка", 1, False, False),
    (1002, "Партнёры", 22, "Согласование", 2, False, False),
    (1002, "Партнёры", 142, "Успешно реализовано", 3, True, False),
    (1002, "Партнёры", 143, "Закрыто и не реализовано", 4, False, True),
]
CHANNELS = ["yandex", "google", "vk", "referral", "unknown"]
SOURCE_NAMES = {"5002": "Телефония"}  # an amoCRM source id with spend, named by the API
REASONS = ["Дорого", "Выбрали конкурента", "Нет бюджета", None]

# Published tables: the contract's key columns, in order.
TABLES = {
    "dim_managers": "manager_id bigint, manager_name varchar, group_id bigint, group_name varchar, is_active boolean",
    "dim_pipeline_stages": "pipeline_id bigint, pipeline_name varchar, status_id bigint, status_name varchar, "
    "stage_order integer, is_won boolean, is_lost boolean",
    "fct_leads": "lead_id bigint, pipeline_id bigint, status_id bigint, manager_id bigint, price bigint, "
    "created_at timestamptz, closed_at timestamptz, is_won boolean, is_lost boolean, is_deleted boolean, "
    "channel varchar, loss_reason varchar, lost_at_status_id bigint, sales_cycle_days double",
    "fct_sales_kpi": "period_grain varchar, period_start date, pipeline_id bigint, manager_id bigint, "
    "leads_created bigint, deals_won bigint, revenue_won decimal(38,0), avg_deal_value double, deals_lost bigint, "
    "win_rate double, cohort_leads bigint, cohort_won bigint, sales_cycle_days_mean double, "
    "sales_cycle_days_median double, sales_cycle_days_p90 double",
    "fct_manager_activity": "period_grain varchar, period_start date, manager_id bigint, calls_outgoing bigint, "
    "calls_incoming bigint, calls_connected bigint, call_seconds bigint, meetings_held bigint, "
    "tasks_completed bigint, tasks_overdue bigint, messages_sent bigint",
    "fct_funnel": "cohort_month date, pipeline_id bigint, status_id bigint, stage_order integer, reached bigint, "
    "reached_next bigint, stage_conversion double, lost_here bigint, open_here bigint, "
    "hours_in_stage_median double, hours_in_stage_p90 double",
    "fct_lost_deals": "period_grain varchar, period_start date, pipeline_id bigint, manager_id bigint, "
    "loss_reason varchar, lost_at_status_id bigint, deals_lost bigint, value_lost decimal(38,0)",
    "fct_cac": "month date, channel varchar, marketing_spend decimal(18,2), new_customers bigint, cac decimal(18,2), "
    "source_name varchar",
    "fct_satisfaction": "period_grain varchar, period_start date, manager_id bigint, responses bigint, "
    "csat double, nps double",
    "fct_plan_vs_fact": "month date, manager_id bigint, target_revenue decimal(18,0), revenue_won decimal(38,0), "
    "target_deals bigint, deals_won bigint, revenue_attainment double, deals_attainment double",
    "fct_forecast": "pipeline_id bigint, manager_id bigint, open_deals bigint, open_value decimal(38,0), "
    "weighted_value decimal(38,2), month_to_date_revenue decimal(38,0), month_run_rate decimal(38,2)",
    "fct_response": "period_grain varchar, period_start date, pipeline_id bigint, manager_id bigint, "
    "leads_created bigint, leads_responded bigint, responded_within_sla bigint, leads_sla_elapsed bigint, "
    "responded_within_sla_share double, first_response_minutes_median double, first_response_minutes_p90 double, "
    "touches_24h bigint, touches_14d bigint, leads_without_touch_14d bigint",
    "fct_pipeline_daily": "snapshot_date date, pipeline_id bigint, status_id bigint, manager_id bigint, "
    "open_deals bigint, open_value decimal(18,2), stuck_deals bigint",
    "fct_crm_hygiene": "snapshot_date date, manager_id bigint, open_deals bigint, open_without_next_task bigint, "
    "open_with_overdue_task bigint, open_without_price bigint, open_without_contact bigint, "
    "open_missing_required bigint, stuck_deals bigint, extracted_at timestamptz",
    "fct_sales_by_dimension": "period_grain varchar, period_start date, pipeline_id bigint, dimension varchar, "
    "dimension_value varchar, leads_created bigint, deals_won bigint, revenue_won decimal(18,2), deals_lost bigint",
}


def _leads(seed: int, count: int, today: date) -> pd.DataFrame:
    rng = random.Random(seed)
    now = datetime.combine(today, datetime.min.time(), TZ) + timedelta(hours=9)
    start = now - timedelta(days=137)
    working = {p: [s for s in STAGES if s[0] == p and not s[5] and not s[6]] for p in (1001, 1002)}
    rows = []
    for lead_id in range(1, count + 1):
        created = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
        pipeline = 1001 if rng.random() < 0.7 else 1002
        manager = rng.choice([101, 102] if created.date() >= date(2026, 9, 1) else [101, 102, 103])
        closed = created + timedelta(days=rng.uniform(0.5, 45))
        outcome = rng.choices(["won", "lost", "open"], [0.4, 0.35, 0.25])[0] if closed < now else "open"
        stage = rng.choice(working[pipeline])
        if outcome == "won" and rng.random() < 0.1:  # a win at 23:45 on a month's last day (Moscow)
            first_next = (closed.replace(day=1) + timedelta(days=32)).replace(day=1)
            closed = datetime.combine(first_next - timedelta(days=1), datetime.min.time(), TZ) + timedelta(hours=23, minutes=45)
            outcome = outcome if created < closed < now else "open"
        rows.append(
            {
                "lead_id": lead_id,
                "pipeline_id": pipeline,
                "status_id": {"won": 142, "lost": 143}.get(outcome, stage[2]),
                "manager_id": manager,
                "price": None if rng.random() < 0.1 else rng.randrange(20, 800) * 1000,
                "created_at": created,
                "closed_at": closed if outcome != "open" else None,
                "is_won": outcome == "won",
                "is_lost": outcome == "lost",
                "is_deleted": rng.random() < 0.03,
                "channel": rng.choice(CHANNELS),
                "loss_reason": rng.choice(REASONS) if outcome == "lost" else None,
                "lost_at_status_id": stage[2] if outcome == "lost" else None,
                "sales_cycle_days": (closed - created).total_seconds() / 86400 if outcome == "won" else None,
                "top_order": stage[4] if outcome != "won" else 99,
                "hours_in_stage": rng.uniform(2, 200),
            }
        )
    return pd.DataFrame(rows).astype({"price": "Int64", "lost_at_status_id": "Int64"})


def build_marts(path: Path, *, seed: int = 7, leads: int = 320, today: date = TODAY, empty: bool = False) -> Path:
    """Write `marts.*` to a new DuckDB file at `path` and return it."""
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'Europe/Moscow'")
        con.execute("create schema marts")
        for table, cols in TABLES.items():
            con.execute(f"create table marts.{table} ({cols})")
        con.executemany("insert into marts.dim_managers values (?, ?, ?, ?, ?)", MANAGERS)
        con.executemany("insert into marts.dim_pipeline_stages values (?, ?, ?, ?, ?, ?, ?)", STAGES)
        if empty:
            return path
        generated = _leads(seed, leads, today)
        con.register("generated", generated)
        con.execute("create temp table gen as select * from generated")
        con.execute(f"insert into marts.fct_leads select {_columns(TABLES['fct_leads'])} from gen")
        _derive(con, today)
        derive_morning(con, today)
    return path


def _columns(spec: str) -> str:
    return ", ".join(c.strip().split(" ")[0] for c in spec.split(","))


def _derive(con: duckdb.DuckDBPyConnection, today: date) -> None:
    con.execute(
        """
        create temp table live as
        select *, cast(created_at as date) as created_day, cast(closed_at as date) as closed_day
        from gen where not is_deleted;
        create temp table grains as select unnest(['day', 'week', 'month']) as grain;
        create temp macro bucket(d, g) as
            case g when 'day' then d when 'week' then cast(date_trunc('week', d) as date)
                   else cast(date_trunc('month', d) as date) end;
        """
    )
    con.execute(
        """
        insert into marts.fct_sales_kpi
        with created as (
            select g.grain, bucket(created_day, g.grain) as p, pipeline_id, manager_id,
                   count(*) as leads, count(*) filter (where status_id = 142) as cohort_won
            from live, grains g group by all
        ), closed as (
            select g.grain, bucket(closed_day, g.grain) as p, pipeline_id, manager_id,
                   count(*) filter (where is_won) as won, sum(coalesce(price, 0)) filter (where is_won) as revenue,
                   count(*) filter (where is_lost) as lost,
                   avg(sales_cycle_days) as mean, median(sales_cycle_days) as med,
                   quantile_cont(sales_cycle_days, 0.9) as p90
            from live, grains g where closed_day is not null group by all
        )
        select grain, p, pipeline_id, manager_id,
               coalesce(c.leads, 0), coalesce(d.won, 0), coalesce(d.revenue, 0),
               coalesce(d.revenue, 0) / nullif(d.won, 0), coalesce(d.lost, 0),
               d.won / nullif(d.won + d.lost, 0), coalesce(c.leads, 0), coalesce(c.cohort_won, 0),
               d.mean, d.med, d.p90
        from created c full join closed d using (grain, p, pipeline_id, manager_id)
        """
    )
    con.execute(
        """
        insert into marts.fct_lost_deals
        select g.grain, bucket(closed_day, g.grain), pipeline_id, manager_id,
               coalesce(loss_reason, 'not specified'), lost_at_status_id, count(*), sum(coalesce(price, 0))
        from live, grains g where is_lost group by all
        """
    )
    con.execute(
        """
        insert into marts.fct_funnel
        with path as (
            select l.*, s.status_id as stage_id, s.stage_order as stage_order, s.is_won as stage_won,
                   date_trunc('month', l.created_day) as cohort
            from live l join marts.dim_pipeline_stages s
              on s.pipeline_id = l.pipeline_id and not s.is_lost and s.stage_order <= l.top_order
        ), counted as (
            select cohort, pipeline_id, stage_id, any_value(stage_order) as stage_order, count(*) as reached,
                   count(*) filter (where is_lost and lost_at_status_id = stage_id) as lost_here,
                   count(*) filter (where not is_won and not is_lost and status_id = stage_id) as open_here,
                   median(hours_in_stage) filter (where not stage_won) as med,
                   quantile_cont(hours_in_stage, 0.9) filter (where not stage_won) as p90
            from path group by all
        )
        select c.cohort, c.pipeline_id, c.stage_id, c.stage_order, c.reached, coalesce(n.reached, 0),
               coalesce(n.reached, 0) / c.reached, c.lost_here, c.open_here, c.med, c.p90
        from counted c left join counted n
          on n.cohort = c.cohort and n.pipeline_id = c.pipeline_id and n.stage_order = c.stage_order + 1
        """
    )
    con.execute(
        """
        insert into marts.fct_cac
        with spend(channel, amount) as (values ('yandex', 90000), ('google', 60000), ('vk', 25000), ('telegram', 15000),
                                            ('5002', 20000)),
        customers as (
            select cast(date_trunc('month', closed_day) as date) as month, channel, count(*) as n
            from live where is_won group by all
        ),
        grid as (select m.month, s.channel, s.amount from (select distinct month from customers) m, spend s)
        select coalesce(g.month, c.month), coalesce(g.channel, c.channel), g.amount, coalesce(c.n, 0),
               g.amount / nullif(c.n, 0), case when coalesce(g.channel, c.channel) = '5002' then ? end
        from grid g full join customers c on c.month = g.month and c.channel = g.channel
        """,
        [SOURCE_NAMES["5002"]],
    )
    con.execute(
        """
        insert into marts.fct_satisfaction
        with scores as (
            select *, (lead_id * 7) % 11 as score from live where is_won and lead_id % 3 <> 0
        )
        select g.grain, bucket(closed_day, g.grain), manager_id, count(*), avg(score),
               100.0 * (count(*) filter (where score >= 9) - count(*) filter (where score <= 6)) / count(*)
        from scores, grains g group by all
        """
    )
    con.execute(
        """
        insert into marts.fct_manager_activity
        with days as (
            select cast(d as date) as day, m.manager_id
            from range(date '2026-06-01', ?::date + 1, interval 1 day) t(d), marts.dim_managers m
            where (m.is_active or d < date '2026-09-01') and hash(d, m.manager_id) % 5 <> 0
        ), daily as (
            select *, hash(day, manager_id, 1) % 9 as calls_out, hash(day, manager_id, 2) % 5 as calls_in,
                   hash(day, manager_id, 3) % 3 as meetings, hash(day, manager_id, 4) % 12 as messages
            from days
        )
        select g.grain, bucket(day, g.grain), manager_id, sum(calls_out), sum(calls_in),
               sum(calls_out + calls_in) - count(*), 60 * sum(calls_out + calls_in), sum(meetings),
               sum(meetings + 1), count(*) % 4, sum(messages)
        from daily, grains g group by all
        """,
        [today],
    )
    con.execute(
        """
        insert into marts.fct_plan_vs_fact
        with targets(manager_id, target_revenue, target_deals) as (values (101, 3000000, 10), (102, 2500000, 8)),
        months as (select distinct period_start as month from marts.fct_sales_kpi where period_grain = 'month'),
        fact as (
            select period_start as month, manager_id, sum(revenue_won) as revenue, sum(deals_won) as deals
            from marts.fct_sales_kpi where period_grain = 'month' group by all
        )
        select m.month, t.manager_id, t.target_revenue, coalesce(f.revenue, 0), t.target_deals, coalesce(f.deals, 0),
               coalesce(f.revenue, 0) / t.target_revenue, coalesce(f.deals, 0) / t.target_deals
        from months m cross join targets t left join fact f on f.month = m.month and f.manager_id = t.manager_id
        """
    )
    con.execute(
        """
        insert into marts.fct_forecast
        with open_deals as (
            select pipeline_id, manager_id, count(*) as n, sum(coalesce(price, 0)) as value,
                   sum(coalesce(price, 0) * (0.15 + 0.1 * (status_id % 3))) as weighted
            from live where not is_won and not is_lost group by all
        ), mtd as (
            select pipeline_id, manager_id, sum(revenue_won) as revenue
            from marts.fct_sales_kpi where period_grain = 'month' and period_start = date_trunc('month', ?::date)
            group by all
        )
        select pipeline_id, manager_id, coalesce(o.n, 0), coalesce(o.value, 0), coalesce(o.weighted, 0),
               coalesce(m.revenue, 0), coalesce(m.revenue, 0) * 31 / 15
        from open_deals o full join mtd m using (pipeline_id, manager_id)
        """,
        [today],
    )


def build_large_marts(path: Path, *, managers: int = 120, pipelines: int = 12, today: date = TODAY) -> Path:
    """A big account straight as facts (no leads): many managers, pipelines, reasons and channels, 2 years."""
    build_marts(path, empty=True)
    with duckdb.connect(str(path)) as con:
        con.execute("delete from marts.dim_managers; delete from marts.dim_pipeline_stages")
        con.execute(
            "insert into marts.dim_managers select i, 'Менеджер с длинным именем ' || i, i % 9, 'Отдел ' || (i % 9), "
            "i % 10 <> 0 from range(1, ?) t(i)",
            [managers + 1],
        )
        con.execute(
            """
            insert into marts.dim_pipeline_stages
            select p, 'Воронка продаж номер ' || p, p * 100 + s, 'Этап с подробным названием ' || s, s, false, false
            from range(1, ?) a(p), range(1, 8) b(s)
            union all select p, 'Воронка продаж номер ' || p, 142, 'Успешно реализовано', 8, true, false from range(1, ?) a(p)
            union all select p, 'Воронка продаж номер ' || p, 143, 'Закрыто и не реализовано', 9, false, true from range(1, ?) a(p)
            """,
            [pipelines + 1] * 3,
        )
        con.execute(
            """
            create temp table cells as
            select g.grain, cast(date_trunc(g.grain, d) as date) as period_start, p, m,
                   sum(hash(d, p, m) % 4) as leads, sum(hash(d, p, m, 1) % 2) as won, sum(hash(d, p, m, 2) % 2) as lost
            from range(?::date - interval 730 day, ?::date + interval 1 day, interval 1 day) t(d),
                 range(1, ?) a(p), range(1, ?) b(m), (select unnest(['day', 'week', 'month']) as grain) g
            where hash(d, p, m) % 7 = 0 and (g.grain <> 'day' or d > ?::date - interval 100 day)
            group by all
            """,
            [today, today, pipelines + 1, managers + 1, today],
        )
        con.execute(
            """
            insert into marts.fct_sales_kpi
            select grain, period_start, p, m, leads, won, won * 250000, 250000, lost, won / nullif(won + lost, 0),
                   leads, won, 20.5, 18, 40 from cells
            """
        )
        con.execute(
            """
            insert into marts.fct_lost_deals
            select grain, period_start, p, m, 'Причина потери номер ' || (hash(p, m) % 25), p * 100 + 1 + hash(m) % 7,
                   lost, lost * 100000 from cells where lost > 0
            """
        )
        con.execute(
            """
            insert into marts.fct_manager_activity
            select grain, period_start, m, sum(leads) * 3, sum(leads), sum(leads) * 2, sum(leads) * 300,
                   sum(won), sum(won) * 2, 1, sum(leads) * 5
            from cells group by all
            """
        )
        con.execute(
            """
            insert into marts.fct_satisfaction
            select grain, period_start, m, sum(won), 8.1, 35.0 from cells where won > 0 group by all
            """
        )
        con.execute(
            """
            insert into marts.fct_plan_vs_fact
            select period_start, m, 5000000, sum(won) * 250000, 20, sum(won), sum(won) * 250000 / 5000000, sum(won) / 20
            from cells where grain = 'month' group by all
            """
        )
        con.execute(
            """
            insert into marts.fct_cac
            select distinct period_start, 'канал-' || c, 100000 + c * 1000, c % 7, (100000 + c * 1000) / nullif(c % 7, 0),
                   null
            from cells, range(1, 40) t(c) where grain = 'month'
            """
        )
        con.execute(
            """
            insert into marts.fct_funnel
            select cast(date_trunc('month', d) as date), p, s.status_id, s.stage_order, 1000 - 100 * s.stage_order,
                   900 - 100 * s.stage_order, 0.9, 10, 5, 30.0, 90.0
            from range(?::date - interval 720 day, ?::date, interval 1 month) t(d), marts.dim_pipeline_stages s,
                 range(1, ?) a(p)
            where s.pipeline_id = p and not s.is_lost
            """,
            [today, today, pipelines + 1],
        )
        con.execute(
            """
            insert into marts.fct_forecast
            select p, m, 10, 1000000, 400000, 250000, 500000 from range(1, ?) a(p), range(1, ?) b(m)
            """,
            [pipelines + 1, managers + 1],
        )
        derive_large_morning(con, today, managers, pipelines)
    return path

