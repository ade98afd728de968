""""Response speed": how fast new leads get their first outgoing touch, per manager and over time.

Read from `marts.fct_response` (one row per period, pipeline and manager). Counts
add up; a median does not: a manager's or a period's median over several rows
(pipelines, managers) is the mean of the rows' medians weighted by their
answered leads, exact when there is one row, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from pipelines.report import charts
from pipelines.report.format import DURATION_UNITS, NBSP, duration_unit
from pipelines.report.morning.common import Unavailable, check_table, ratio
from pipelines.report.rows import columns, dict_rows, exact_sum
from pipelines.report.tables import HALF_WIDTH, Cell, Row, Table

TABLE = "fct_response"
COUNTS = ("leads_created", "leads_responded", "responded_within_sla", "leads_sla_elapsed", "touches_24h",
          "touches_14d", "leads_without_touch_14d")
NEEDED = {"period_grain", "period_start", "manager_id", "first_response_minutes_median",
          "first_response_minutes_p90", *COUNTS}


@dataclass(frozen=True)
class ResponseTotals:
    leads_created: int = 0
    leads_responded: int = 0
    responded_within_sla: int = 0
    leads_sla_elapsed: int = 0
    touches_24h: int = 0
    touches_14d: int = 0
    leads_without_touch_14d: int = 0
    median_sum: float = 0.0  # each row's median times its answered leads, added up
    p90_sum: float = 0.0
    answered_weight: int = 0  # answered leads of the rows that have a median

    @property
    def sla_share(self) -> float | None:
        return ratio(self.responded_within_sla, self.leads_sla_elapsed)

    @property
    def median(self) -> float | None:
        return ratio(self.median_sum, self.answered_weight)

    @property
    def p90(self) -> float | None:
        return ratio(self.p90_sum, self.answered_weight)

    @property
    def touches_24h_per_lead(self) -> float | None:
        return ratio(self.touches_24h, self.leads_created)


@dataclass(frozen=True)
class ResponseData:
    month: dict[Any, ResponseTotals]  # manager_id -> this month ("total" for the account)
    previous: dict[Any, ResponseTotals]  # the same for the previous month
    names: dict[int, str | None]
    trend: dict[str, list[ResponseTotals]] = field(default_factory=dict)  # grain -> one per period
    sla_minutes: int | None = None  # marts.meta_source.response_sla_minutes; None in a copy published before it


_SUMS = ", ".join(f"coalesce(sum({c}), 0) as {c}" for c in COUNTS) + f""",
    coalesce({exact_sum("first_response_minutes_median * leads_responded")}
             filter (where first_response_minutes_median is not null), 0) as median_sum,
    coalesce({exact_sum("first_response_minutes_p90 * leads_responded")}
             filter (where first_response_minutes_p90 is not null), 0) as p90_sum,
    coalesce(sum(leads_responded) filter (where first_response_minutes_median is not null), 0) as answered_weight"""


def _totals(row: dict[str, Any]) -> ResponseTotals:
    """The measures of a query row (its other columns are keys)."""
    return ResponseTotals(**{k: (float(v) if k.endswith("_sum") else int(v)) for k, v in row.items()
                             if k in ResponseTotals.__dataclass_fields__})


def load(con: duckdb.DuckDBPyConnection, periods: dict[str, list[date]]) -> ResponseData | Unavailable:
    why = check_table(con, TABLE, NEEDED)
    if why:
        return why
    month, previous = periods["month"][-1], periods["month"][-2]
    by_manager = dict_rows(con, f"""
        select period_start, manager_id, {_SUMS} from marts.{TABLE}
        where period_grain = 'month' and period_start in (?, ?) group by all
        """, [previous, month])
    windows = [(g, ps[0], ps[-1]) for g, ps in periods.items()]
    where = " or ".join("(period_grain = ? and period_start between ? and ?)" for _ in windows)
    by_period = dict_rows(con, f"select period_grain, period_start, {_SUMS} from marts.{TABLE} where {where} group by all",
                          [v for w in windows for v in w])
    if not any(r["leads_created"] for r in by_period):
        return Unavailable(TABLE, "empty")
    names = dict(con.execute("select manager_id, manager_name from marts.dim_managers").fetchall())
    found = {(r["period_grain"], r["period_start"]): _totals(r) for r in by_period}
    trend = {g: [found.get((g, p), ResponseTotals()) for p in ps] for g, ps in periods.items()}
    split = {m: {r["manager_id"]: _totals(r) for r in by_manager if r["period_start"] == m} for m in (month, previous)}
    for m in (month, previous):
        split[m]["total"] = found.get(("month", m), ResponseTotals())
    return ResponseData(split[month], split[previous], names, trend, sla_minutes(con))


def sla_minutes(con: duckdb.DuckDBPyConnection) -> int | None:
    """The SLA the response KPIs were built with, as published in `marts.meta_source` (pipelines/publish.py)."""
    if "response_sla_minutes" not in columns(con, "marts", "meta_source"):
        return None
    row = con.execute("select max(response_sla_minutes) from marts.meta_source").fetchone()
    return None if row[0] is None else int(row[0])


# view


def view(data: ResponseData | Unavailable, p) -> dict[str, Any]:
    """The per-manager table of this month and the trend charts per grain (`p` is the Presenter)."""
    if isinstance(data, Unavailable):
        return {"unavailable": data}
    note = p.t["response_note"].format(sla=sla_text(data.sla_minutes, p.t, p.fmt))
    return {"unavailable": None, "table": _table(data, p), "note": note,
            "trends": {grain: _charts(data, grain, p) for grain in data.trend}}


def sla_text(minutes: int | None, t: dict[str, str], fmt) -> str:
    """The SLA as a number ("15 min"), or the dbt var's name when the published copy does not carry it."""
    if minutes is None:
        return t["sla_var"]
    return f"{fmt.number(minutes)}{NBSP}{fmt.unit_name('min')}"


def sla_title(data: ResponseData, p) -> str:
    """"Within 15 min" (the SLA share's heading), or "Within SLA" when the number is not known."""
    if data.sla_minutes is None:
        return p.t["sla_share"]
    return p.t["sla_within"].format(sla=sla_text(data.sla_minutes, p.t, p.fmt))


def _cells(t: ResponseTotals, previous: ResponseTotals, name: str, p) -> list[Cell]:
    f = p.fmt
    return [
        Cell(name, numeric=False),
        Cell(f.number(t.leads_created), "leads_created", t.leads_created),
        Cell(f.number(t.leads_responded), "leads_responded", t.leads_responded),
        Cell(f.percent(t.sla_share), "sla_share", t.sla_share),
        Cell(f.percent(previous.sla_share), "previous_sla_share", previous.sla_share),
        Cell(f.minutes(t.median), "first_response_median", t.median),
        Cell(f.minutes(t.p90), "first_response_p90", t.p90),
        Cell(f.number(t.touches_24h_per_lead, 1), "touches_24h_per_lead", t.touches_24h_per_lead),
        Cell(f.number(t.leads_without_touch_14d), "leads_without_touch_14d", t.leads_without_touch_14d,
             tone="warn" if t.leads_without_touch_14d else None),
    ]


def _table(data: ResponseData, p) -> Table:
    managers = sorted((m for m in data.month if m != "total"),
                      key=lambda m: (-data.month[m].leads_created, str(data.names.get(m) or ""), str(m)))
    rows = []
    for m in managers:
        name = data.names.get(m) or (p.t["unassigned"] if m is None else f"{p.t['user']} #{m}")
        rows.append(Row(f"m:{m}", _cells(data.month[m], data.previous.get(m, ResponseTotals()), name, p),
                        attrs={"data-manager": str(m)}))
    rows.append(Row("total", _cells(data.month["total"], data.previous["total"], p.t["total"], p), "total"))
    headers = [(p.t["manager"], False)] + [
        (title, True) for title in (
            p.t["leads_created"], p.t["leads_responded"], sla_title(data, p),
            f"{sla_title(data, p)}, {p.fmt.short_month(p.data.previous_month)}", p.t["first_response_median"],
            p.t["time_p90"], p.t["touches_24h_per_lead"], p.t["leads_without_touch_14d"])
    ]
    return Table("response", headers, rows)


def _charts(data: ResponseData, grain: str, p) -> list[tuple[str, Any]]:
    """(caption, chart): the SLA share, and the median and 90th percentile time to the first response."""
    periods, totals = p.data.periods[grain], data.trend[grain]
    axis_label = p.fmt.short_month if grain == "month" else p.fmt.day_month
    labels = [axis_label(x) for x in periods]
    names = [p.period_name(x, grain) for x in periods]
    shares = [None if t.sla_share is None else t.sla_share * 100 for t in totals]
    title = sla_title(data, p)
    share = (title, charts.line_chart(
        labels, [charts.Series(title, shares, charts.GREEN)],
        [f"{n}: {p.fmt.percent(t.sla_share)} ({p.fmt.number(t.responded_within_sla)} / "
         f"{p.fmt.number(t.leads_sla_elapsed)})" for n, t in zip(names, totals)],
        title=title, axis=lambda v: p.fmt.percent(v / 100, 0), empty_text=p.t["no_data"],
        width=HALF_WIDTH,
    ))
    unit = duration_unit(max((t.p90 or 0 for t in totals), default=0))  # one unit for the whole axis
    per_unit = DURATION_UNITS[unit]

    def scaled(values: list[float | None]) -> list[float | None]:
        return [None if v is None else v / per_unit for v in values]

    speed = charts.line_chart(
        labels, [charts.Series(p.t["first_response_median"], scaled([t.median for t in totals]), charts.BLUE),
                 charts.Series(p.t["time_p90"], scaled([t.p90 for t in totals]), charts.GREY)],
        [f"{n}: {p.fmt.minutes(t.median)} · {p.t['time_p90']}: {p.fmt.minutes(t.p90)}" for n, t in zip(names, totals)],
        title=f"{p.t['first_response_time']}, {p.fmt.unit_name(unit)}", axis=p.fmt.compact, empty_text=p.t["no_data"],
        width=HALF_WIDTH,
    )
    return [share, (f"{p.t['first_response_time']}, {p.fmt.unit_name(unit)}", speed)]
