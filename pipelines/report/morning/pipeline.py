""""Open pipeline over time": open deals and their amount per stage at the end of each recent day.

Read from `marts.fct_pipeline_daily` (rebuilt from the status history; the amount
is each deal's current price). One chart pair and one table per pipeline, for
the busiest pipelines on the latest day; days without a row had no open deal
in that stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from pipelines.report import charts
from pipelines.report.morning.common import Unavailable, check_table
from pipelines.report.rows import dict_rows
from pipelines.report.tables import HALF_WIDTH, Cell, Row, Table

TABLE = "fct_pipeline_daily"
NEEDED = {"snapshot_date", "pipeline_id", "status_id", "open_deals", "open_value", "stuck_deals"}
MAX_PIPELINES = 10
COMPARE_DAYS = 7  # the table shows the open deals this many days before the latest day
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#dc2626", "#65a30d", "#db2777", "#475569")


@dataclass(frozen=True)
class Stage:
    status_id: int
    name: str
    open_deals: dict[date, int]
    open_value: dict[date, Decimal]
    stuck_deals: dict[date, int]


@dataclass(frozen=True)
class PipelineDays:
    pipeline_id: int
    name: str
    stages: list[Stage]  # in the pipeline's stage order


@dataclass(frozen=True)
class PipelineData:
    days: list[date]
    latest: date  # the newest day with data (the extraction day)
    pipelines: list[PipelineDays]  # most open deals on the latest day first


def load(con: duckdb.DuckDBPyConnection, days: list[date]) -> PipelineData | Unavailable:
    why = check_table(con, TABLE, NEEDED)
    if why:
        return why
    rows = dict_rows(con, f"""
        select f.snapshot_date, f.pipeline_id, f.status_id, sum(f.open_deals) as open_deals,
               coalesce(sum(f.open_value), 0) as open_value, coalesce(sum(f.stuck_deals), 0) as stuck_deals
        from marts.{TABLE} f where f.snapshot_date between ? and ? group by all
        """, [days[0] - timedelta(days=COMPARE_DAYS), days[-1]])
    if not rows:
        return Unavailable(TABLE, "empty")
    latest = max(r["snapshot_date"] for r in rows)
    stages = dict_rows(con, """
        select pipeline_id, pipeline_name, status_id, status_name, stage_order from marts.dim_pipeline_stages
        where not is_won and not is_lost order by pipeline_id, stage_order, status_id
        """)
    pipeline_names = {s["pipeline_id"]: s["pipeline_name"] for s in stages}
    order = {(s["pipeline_id"], s["status_id"]): (s["stage_order"], s["status_name"]) for s in stages}
    busy: dict[int, int] = {}
    for r in rows:
        busy.setdefault(r["pipeline_id"], 0)
        if r["snapshot_date"] == latest:
            busy[r["pipeline_id"]] += int(r["open_deals"])
    chosen = sorted(busy, key=lambda pid: (-busy[pid], pid))[:MAX_PIPELINES]
    result = []
    for pid in chosen:
        mine = [r for r in rows if r["pipeline_id"] == pid]
        ids = {r["status_id"] for r in mine} | {s for (q, s) in order if q == pid}
        ranked = sorted(ids, key=lambda s: (order.get((pid, s), (10**6, ""))[0], s))
        result.append(PipelineDays(pid, pipeline_names.get(pid) or f"#{pid}", [
            Stage(s, order.get((pid, s), (0, None))[1] or f"#{s}",
                  {r["snapshot_date"]: int(r["open_deals"]) for r in mine if r["status_id"] == s},
                  {r["snapshot_date"]: Decimal(r["open_value"]) for r in mine if r["status_id"] == s},
                  {r["snapshot_date"]: int(r["stuck_deals"]) for r in mine if r["status_id"] == s})
            for s in ranked
        ]))
    return PipelineData(days, latest, result)


def view(data: PipelineData | Unavailable, p) -> dict[str, Any]:
    if isinstance(data, Unavailable):
        return {"unavailable": data}
    return {
        "unavailable": None,
        "note": p.t["pipeline_daily_note"].format(latest=p.fmt.date(data.latest), days=COMPARE_DAYS),
        "pipelines": [{"id": x.pipeline_id, "name": x.name, "charts": _charts(data, x, p), "table": _table(data, x, p)}
                      for x in data.pipelines],
    }


def _charts(data: PipelineData, pipeline: PipelineDays, p) -> list[tuple[str, Any]]:
    """(caption, chart): the open deals per stage, and their total amount (per stage it is in the table)."""
    labels = [p.fmt.day_month(d) for d in data.days]
    names = [p.fmt.date(d) for d in data.days]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(pipeline.stages))]
    deals = [charts.Series(s.name, [s.open_deals.get(d, 0) for d in data.days], c) for s, c in zip(pipeline.stages, colors)]
    deal_tips = [  # stages with open deals that day only: the page stays small on a big account
        f"{n} — " + (" · ".join(f"{s.name}: {p.fmt.number(s.open_deals[d])}" for s in pipeline.stages
                                if s.open_deals.get(d)) or p.fmt.number(0))
        for n, d in zip(names, data.days)
    ]
    totals = [sum((s.open_value.get(d, Decimal(0)) for s in pipeline.stages), Decimal(0)) for d in data.days]
    value_caption = f"{p.t['open_value']}, {p.fmt.currency_sign}"
    return [
        (p.t["open_deals"], charts.line_chart(
            labels, deals, deal_tips, title=f"{p.t['open_deals']}: {pipeline.name}", axis=p.fmt.compact,
            empty_text=p.t["no_data"], width=HALF_WIDTH, integer=True)),
        (value_caption, charts.line_chart(
            labels, [charts.Series(p.t["open_value"], [float(v) for v in totals], charts.BLUE)],
            [f"{n}: {p.fmt.money(v)}" for n, v in zip(names, totals)], title=f"{value_caption}: {pipeline.name}",
            axis=p.fmt.compact, empty_text=p.t["no_data"], width=HALF_WIDTH)),
    ]


def _table(data: PipelineData, pipeline: PipelineDays, p) -> Table:
    day, before = data.latest, data.latest - timedelta(days=COMPARE_DAYS)

    def cells(name: str, deals: int, value: Decimal, stuck: int, earlier: int) -> list[Cell]:
        return [Cell(name, numeric=False), Cell(p.fmt.number(deals), "open_deals", deals),
                Cell(p.fmt.money(value), "open_value", value),
                Cell(p.fmt.number(stuck), "stuck_deals", stuck, tone="warn" if stuck else None),
                Cell(p.fmt.number(earlier), "open_deals_before", earlier)]

    figures = [(s.open_deals.get(day, 0), s.open_value.get(day, Decimal(0)), s.stuck_deals.get(day, 0),
                s.open_deals.get(before, 0)) for s in pipeline.stages]
    rows = [Row(str(s.status_id), cells(s.name, *f)) for s, f in zip(pipeline.stages, figures)]
    rows.append(Row("total", cells(p.t["total"], *(sum(col) for col in zip(*figures))) if figures else
                    cells(p.t["total"], 0, Decimal(0), 0, 0), "total"))
    headers = [(p.t["stage"], False), (p.t["open_deals"], True), (p.t["open_value"], True), (p.t["stuck_deals"], True),
               (p.t["open_days_before"].format(days=COMPARE_DAYS), True)]
    return Table("pipeline-daily", headers, rows)
