"""Turn `ReportData` into display-ready views, the HTML page and a Markdown summary.

All wording and formatting happens here, so the template only lays things
out. Every number the page shows also carries its exact value in a `data-value`
attribute (tiles, table cells), which lets tests and scripts read the report
back without parsing localized text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.report import charts
from pipelines.report.data import ALL, GRAINS, STALE_AFTER_DAYS
from pipelines.report.model import (
    ChannelCac,
    Forecast,
    Funnel,
    Loss,
    ManagerRow,
    ReportData,
    Satisfaction,
    Scope,
    SalesTotals,
)
from pipelines.report.format import Formatter
from pipelines.report.labels import LABELS

HALF_WIDTH, FULL_WIDTH = 560, 1100  # chart viewBox widths: half a card, a whole card
MANAGER_ROWS = 25  # longer tables end with one "others" row, so the file stays small
LOSS_ROWS = 8
CHANNEL_ROWS = 12

# Headline KPIs: key, value kind, whether a rise is good news.
HEADLINE = (
    ("revenue_won", "money", True),
    ("deals_won", "count", True),
    ("avg_deal_value", "money", True),
    ("win_rate", "ratio", True),
    ("leads_created", "count", True),
    ("sales_cycle_days", "days", False),
    ("cac", "money", False),
    ("nps", "score", True),
)
FORECAST = (
    ("open_deals", "count"),
    ("open_value", "money"),
    ("weighted_value", "money"),
    ("month_to_date_revenue", "money"),
    ("month_run_rate", "money"),
)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Tile:
    """One headline KPI for the current and the previous month."""

    key: str
    kind: str  # count, money, ratio, days, score
    value: Any
    previous: Any
    higher_is_better: bool = True

    @property
    def change(self) -> Any:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_ratio(self) -> float | None:
        """Relative change; undefined for ratios and scores (their change is in points) and from zero."""
        if self.kind in ("ratio", "score") or self.change is None or not self.previous:
            return None
        return float(self.change) / abs(float(self.previous))


def raw(value: Any) -> str:
    """The exact value for a `data-value` attribute ("" when missing)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Cell:
    text: str
    col: str | None = None
    value: Any = None  # exact value behind a numeric cell
    numeric: bool = True
    flag: str | None = None  # a badge after the text
    tone: str | None = None

    @property
    def raw(self) -> str:
        return raw(self.value)


@dataclass(frozen=True)
class Row:
    key: str
    cells: list[Cell]
    kind: str = ""  # "", "other", "total"
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    key: str
    headers: list[tuple[str, bool]]  # (title, numeric)
    rows: list[Row]


class Presenter:
    """Formats one report's data in one language."""

    def __init__(self, data: ReportData, fmt: Formatter):
        self.data = data
        self.fmt = fmt
        self.t = LABELS[fmt.language]

    # values

    def show(self, kind: str, value: Any) -> str:
        if kind == "money":
            return self.fmt.money(value)
        if kind == "ratio":
            return self.fmt.percent(value)
        if kind == "days":
            return self.fmt.days(value)
        if kind == "score":
            return self.fmt.number(value, 0)
        return self.fmt.number(value)

    def _signed(self, text: str, value: Any) -> str:
        return f"+{text}" if value > 0 else text

    def change_text(self, tile: Tile) -> str:
        change = tile.change
        if change is None:
            return self.t["not_available"]
        if tile.kind == "ratio":
            return self._signed(f"{self.fmt.number(change * 100, 1)}\u00a0{self.t['points']}", change)
        absolute = self._signed(self.show(tile.kind, change), change)
        if tile.change_ratio is None:
            return absolute
        return f"{self._signed(self.fmt.percent(tile.change_ratio), tile.change_ratio)} ({absolute})"

    @staticmethod
    def tone(tile: Tile) -> str:
        if not tile.change:
            return "neutral"
        return "good" if (tile.change > 0) == tile.higher_is_better else "bad"

    @staticmethod
    def arrow(tile: Tile) -> str:
        if not tile.change:
            return ""
        return "▲" if tile.change > 0 else "▼"

    def scope_label(self, scope: Scope) -> str:
        if scope.kind == "all":
            return self.t["whole_account"]
        name = scope.name or f"#{scope.id}"
        return f"{self.t[scope.kind]}: {name}"

    def manager_name(self, row: ManagerRow) -> str:
        return row.name or f"{self.t['user']} #{row.manager_id}"

    # headline

    def tiles(self, scope: Scope) -> list[Tile]:
        d = self.data
        now, before = d.sales_at(scope.key, "month", d.month), d.sales_at(scope.key, "month", d.previous_month)
        nps_scope = ALL if scope.kind == "pipeline" else scope.key  # satisfaction is not split by pipeline
        nps = [d.satisfaction.get((nps_scope, m), Satisfaction()).nps for m in (d.month, d.previous_month)]
        cac = [_blended_cac(d.cac.get(m, [])) for m in (d.month, d.previous_month)]
        values = {
            "leads_created": (now.leads_created, before.leads_created),
            "deals_won": (now.deals_won, before.deals_won),
            "revenue_won": (now.revenue_won, before.revenue_won),
            "avg_deal_value": (now.avg_deal_value, before.avg_deal_value),
            "win_rate": (now.win_rate, before.win_rate),
            "sales_cycle_days": (now.cycle_days_mean, before.cycle_days_mean),
            "cac": tuple(cac),
            "nps": tuple(nps),
        }
        return [Tile(key, kind, *values[key], better) for key, kind, better in HEADLINE]

    def tile_note(self, key: str, scope: Scope) -> str | None:
        if key == "cac":
            return self.t["all_channels_note"] if scope.kind == "all" else self.t["whole_account_note"]
        if key == "nps" and scope.kind == "pipeline":
            return self.t["whole_account_note"]
        return None

    def tile_view(self, tile: Tile, scope: Scope) -> dict[str, Any]:
        return {
            "key": tile.key,
            "label": self.t[tile.key],
            "value": self.show(tile.kind, tile.value),
            "raw_value": raw(tile.value),
            "raw_previous": raw(tile.previous),
            "previous": f"{self.fmt.short_month(self.data.previous_month)}: {self.show(tile.kind, tile.previous)}",
            "change": self.change_text(tile),
            "arrow": self.arrow(tile),
            "tone": self.tone(tile),
            "note": self.tile_note(tile.key, scope),
        }

    def forecast_views(self, scope: Scope) -> list[dict[str, Any]]:
        forecast = self.data.forecast.get(scope.key, Forecast())  # no row: nothing open
        previous_revenue = self.data.sales_at(scope.key, "month", self.data.previous_month).revenue_won
        views = []
        for key, kind in FORECAST:
            value = getattr(forecast, key)
            note = None
            if key == "month_run_rate":
                note = f"{self.fmt.short_month(self.data.previous_month)}: {self.fmt.money(previous_revenue)}"
            views.append(
                {"key": key, "label": self.t[key], "value": self.show(kind, value), "raw_value": raw(value), "note": note}
            )
        return views

    # trends

    def period_name(self, start: date, grain: str) -> str:
        if grain == "month":
            return self.fmt.month(start)
        if grain == "week":
            return f"{self.t['week_of']} {self.fmt.date(start)}"
        return self.fmt.date(start)

    def trend_charts(self, scope: Scope, grain: str) -> list[Markup]:
        periods = self.data.periods[grain]
        totals: list[SalesTotals] = [self.data.sales_at(scope.key, grain, p) for p in periods]
        axis_label = self.fmt.short_month if grain == "month" else self.fmt.day_month
        labels = [axis_label(p) for p in periods]
        names = [self.period_name(p, grain) for p in periods]
        names[-1] += f" ({self.t['current_period']})"
        revenue = charts.bar_chart(
            [charts.Point(label, float(s.revenue_won), f"{name}: {self.fmt.money(s.revenue_won)}")
             for label, name, s in zip(labels, names, totals)],
            title=f"{self.t['revenue_won']}, {self.fmt.currency_sign}",
            axis=self.fmt.compact,
            empty_text=self.t["no_data"],
            width=HALF_WIDTH,
        )
        keys = ("leads_created", "deals_won", "deals_lost")
        series = [
            charts.Series(self.t[key], [getattr(s, key) for s in totals], color)
            for key, color in zip(keys, (charts.BLUE, charts.GREEN, charts.RED))
        ]
        tooltips = [
            f"{name} — " + " · ".join(f"{self.t[key]}: {self.fmt.number(getattr(s, key))}" for key in keys)
            for name, s in zip(names, totals)
        ]
        deals = charts.line_chart(
            labels, series, tooltips, title=self.t["deals"], axis=self.fmt.compact,
            empty_text=self.t["no_data"], width=HALF_WIDTH, integer=True,
        )
        return [revenue, deals]

    # losses

    def loss_label(self, loss: Loss, by_stage: bool, scope: Scope) -> str:
        if by_stage:
            name = loss.name or self.t["unknown_stage"]
            many_pipelines = scope.kind != "pipeline" and sum(s.kind == "pipeline" for s in self.data.scopes) > 1
            return f"{loss.pipeline} · {name}" if many_pipelines and loss.pipeline else name
        if loss.name is None or loss.name.strip().lower() in ("", "not specified"):
            return self.t["not_specified"]
        return loss.name

    def losses(self, scope: Scope, by_stage: bool) -> tuple[Markup, Table]:
        """This month's losses, most first (the long tail as one "other" line), beside last month's counts."""
        source = self.data.losses_by_stage if by_stage else self.data.losses_by_reason

        def lines(month: date) -> list[tuple[str, int, Decimal]]:
            return _merge_losses([(self.loss_label(x, by_stage, scope), x) for x in source.get((scope.key, month), [])])

        now, before = lines(self.data.month), lines(self.data.previous_month)
        previous = {label: deals for label, deals, _ in before}
        shown = [(label, label, deals, value, previous.get(label, 0), "") for label, deals, value in now[:LOSS_ROWS]]
        if len(now) > LOSS_ROWS:
            rest, listed = now[LOSS_ROWS:], {label for label, _, _ in now[:LOSS_ROWS]}
            shown.append(("other", self.t["other"], sum(d for _, d, _ in rest), sum(v for _, _, v in rest),
                          sum(d for label, d, _ in before if label not in listed), "other"))
        chart = charts.hbar_chart(
            [charts.HBar(label, deals, f"{self.fmt.number(deals)} · {self.fmt.money(value)}", charts.RED)
             for _, label, deals, value, _, _ in shown],
            title=self.t["by_stage" if by_stage else "by_reason"], empty_text=self.t["no_data"],
            width=HALF_WIDTH, label_width=240,
        )
        total = ("total", self.t["total"], sum(d for _, d, _ in now), sum(v for _, _, v in now),
                 sum(d for _, d, _ in before), "total")
        rows = [
            Row(key, [Cell(label, numeric=False), Cell(self.fmt.number(deals), "deals_lost", deals),
                      Cell(self.fmt.money(value), "value_lost", value),
                      Cell(self.fmt.number(prev), "previous_deals_lost", prev)], kind)
            for key, label, deals, value, prev, kind in [*shown, total]
        ]
        headers = [(self.t["stage" if by_stage else "reason"], False), (self.t["deals"], True), (self.t["value"], True),
                   (self.fmt.short_month(self.data.previous_month), True)]
        return chart, Table("losses-stage" if by_stage else "losses-reason", headers, rows)

    # funnel

    def funnel(self, funnel: Funnel) -> tuple[Markup, Table]:
        stages = funnel.stages
        entry = stages[0].reached if stages else 0
        chart = charts.hbar_chart(
            [charts.HBar(s.name, s.reached,
                         f"{self.fmt.number(s.reached)} · {self.fmt.percent(s.reached / entry if entry else None, 0)}",
                         charts.GREEN if s.is_won else charts.BLUE)
             for s in stages],
            title=f"{self.t['funnel']}: {funnel.name}", empty_text=self.t["no_data"], width=FULL_WIDTH, label_width=260,
        )
        working = [s for s in stages if not s.is_won and s.reached]
        drop = min(working, key=lambda s: s.conversion if s.conversion is not None else 2, default=None)
        slow = max((s for s in working if s.hours_median is not None), key=lambda s: s.hours_median, default=None)
        flagged = len(working) > 1  # with one working stage there is nothing to compare
        rows = []
        for s in stages:
            is_drop, is_slow = flagged and s is drop, flagged and s is slow
            rows.append(
                Row(str(s.status_id), [
                    Cell(s.name, numeric=False),
                    Cell(self.fmt.number(s.reached), "reached", s.reached),
                    Cell(self.fmt.percent(s.conversion), "conversion", s.conversion,
                         flag=self.t["biggest_drop"] if is_drop else None, tone="bad" if is_drop else None),
                    Cell(self.fmt.number(s.lost_here), "lost_here", s.lost_here),
                    Cell(self.fmt.hours_as_days(s.hours_median), "hours_median", s.hours_median,
                         flag=self.t["slowest"] if is_slow else None, tone="bad" if is_slow else None),
                    Cell(self.fmt.hours_as_days(s.hours_p90), "hours_p90", s.hours_p90),
                    Cell(self.fmt.number(s.open_now), "open_now", s.open_now),
                    Cell(self.fmt.number(s.open_stale), "open_stale", s.open_stale,
                         tone="warn" if s.open_stale else None),
                ], "total" if s.is_won else "")
            )
        headers = [(self.t["stage"], False)] + [
            (title, True)
            for title in (self.t["reached"], self.t["to_next"], self.t["lost_here"], self.t["time_median"],
                          self.t["time_p90"], self.t["open_now"], self.t["stale"].format(days=STALE_AFTER_DAYS))
        ]
        return chart, Table("funnel", headers, rows)

    # managers

    def manager_cells(self, row: ManagerRow, name: str) -> list[Cell]:
        f = self.fmt
        return [
            Cell(name, numeric=False),
            Cell(row.group or "", numeric=False),
            Cell(f.money(row.revenue_won), "revenue_won", row.revenue_won),
            Cell(f.number(row.deals_won), "deals_won", row.deals_won),
            Cell(f.percent(row.win_rate), "win_rate", row.win_rate),
            Cell(f.number(row.calls), "calls", row.calls),
            Cell(f.number(row.meetings), "meetings", row.meetings),
            Cell(f.number(row.messages), "messages", row.messages),
            Cell(f.percent(row.revenue_attainment, 0), "revenue_attainment", row.revenue_attainment,
                 tone=_pace_tone(row.revenue_attainment, self.data.month_elapsed)),
            Cell(f.percent(row.deals_attainment, 0), "deals_attainment", row.deals_attainment,
                 tone=_pace_tone(row.deals_attainment, self.data.month_elapsed)),
        ]

    def managers(self) -> Table:
        everyone = self.data.managers
        shown, rest = everyone[:MANAGER_ROWS], everyone[MANAGER_ROWS:]
        rows = []
        for m in shown:
            name = self.manager_name(m)
            cells = self.manager_cells(m, name)
            if not m.is_active:
                cells[0] = Cell(name, numeric=False, flag=self.t["inactive"])
            rows.append(Row(f"m:{m.manager_id}", cells, attrs={"data-manager": str(m.manager_id)}))
        if rest:
            others = self.t["other_managers"].format(n=len(rest))
            rows.append(Row("other", self.manager_cells(ManagerRow.combine(rest), others), "other"))
        rows.append(Row("total", self.manager_cells(ManagerRow.combine(everyone), self.t["total"]), "total"))
        headers = [(self.t["manager"], False), (self.t["group"], False)] + [
            (self.t[key], True)
            for key in ("revenue_won", "deals", "win_rate", "calls", "meetings", "messages", "plan_revenue", "plan_deals")
        ]
        return Table("managers", headers, rows)

    # CAC

    def cac(self) -> tuple[Markup, Table]:
        """This month's channels by spend (the long tail as one "other" line), with last month's CAC."""
        channels = self.data.cac.get(self.data.month, [])
        before = self.data.cac.get(self.data.previous_month, [])
        previous = {c.channel: c for c in before}
        shown = [("", c, previous.get(c.channel)) for c in channels[:CHANNEL_ROWS]]
        if len(channels) > CHANNEL_ROWS:
            rest = channels[CHANNEL_ROWS:]
            tail = [previous[c.channel] for c in rest if c.channel in previous]
            shown.append(("other", _combine_channels(self.t["other"], rest), _combine_channels("", tail)))
        chart = charts.hbar_chart(
            [charts.HBar(c.label, float(c.cac), self.fmt.money(c.cac), charts.AMBER)
             for _, c, _ in shown if c.cac is not None],
            title=self.t["cac_section"], empty_text=self.t["no_data"], width=HALF_WIDTH,
        )
        total = ("total", _combine_channels(self.t["total"], channels), _combine_channels("", before))
        rows = [Row(kind or c.channel, self._cac_cells(c, prev), kind) for kind, c, prev in [*shown, total]]
        headers = [(self.t["channel"], False), (self.t["marketing_spend"], True), (self.t["new_customers"], True),
                   (self.t["cac"], True), (f"CAC, {self.fmt.short_month(self.data.previous_month)}", True)]
        return chart, Table("cac", headers, rows)

    def _cac_cells(self, c: ChannelCac, previous: ChannelCac | None) -> list[Cell]:
        prev_cac = previous.cac if previous else None
        return [
            Cell(c.label, numeric=False),
            Cell(self.fmt.money(c.marketing_spend), "marketing_spend", c.marketing_spend),
            Cell(self.fmt.number(c.new_customers), "new_customers", c.new_customers),
            Cell(self.fmt.money(c.cac), "cac", c.cac),
            Cell(self.fmt.money(prev_cac), "previous_cac", prev_cac),
        ]

    # page

    def scope_view(self, scope: Scope) -> dict[str, Any]:
        losses = [self.losses(scope, by_stage=False), self.losses(scope, by_stage=True)]
        return {
            "key": scope.key,
            "label": self.scope_label(scope),
            "tiles": [self.tile_view(tile, scope) for tile in self.tiles(scope)],
            "forecast": self.forecast_views(scope),
            "trends": {grain: self.trend_charts(scope, grain) for grain in GRAINS},
            "losses": [
                {"title": self.t[key], "chart": chart, "table": table}
                for key, (chart, table) in zip(("by_reason", "by_stage"), losses)
            ],
        }

    def html(self, generated_at: datetime) -> str:
        d, t = self.data, self.t
        cac_chart, cac_table = self.cac()
        scopes = d.scopes
        return _templates.get_template("report.html.j2").render(
            t=t,
            language=self.fmt.language,
            title=f"{t['title']} — {self.fmt.month(d.month)}",
            account_name=" · ".join(filter(None, [d.account.name, t["simulated_source"] if d.account.simulated
                                                  else d.account.source_host])),
            subtitle=(
                f"{t['month_progress'].format(elapsed=self.fmt.percent(d.month_elapsed, 0))} · "
                f"{t['previous_period']}: {self.fmt.month(d.previous_month)}"
            ),
            generated=f"{t['generated']} {self.fmt.datetime(generated_at)} ({t['timezone']} {generated_at.tzinfo})",
            scope_options={
                "all": [(s.key, self.scope_label(s)) for s in scopes if s.kind == "all"],
                "pipelines": [(s.key, s.name or f"#{s.id}") for s in scopes if s.kind == "pipeline"],
                "managers": [(s.key, s.name or f"{t['user']} #{s.id}") for s in scopes if s.kind == "manager"],
            },
            grains=GRAINS,
            scopes=[self.scope_view(s) for s in scopes],
            funnels=[{"id": f.pipeline_id, "name": f.name, "view": self.funnel(f)} for f in d.funnels],
            funnel_note=t["funnel_note"].format(since=self.fmt.date(d.funnel_since), days=STALE_AFTER_DAYS),
            managers=self.managers(),
            managers_note=t["managers_note"].format(elapsed=self.fmt.percent(d.month_elapsed, 0)),
            cac_chart=cac_chart,
            cac_table=cac_table,
        )

    def markdown(self, link: str) -> str:
        d = self.data
        month, previous = self.fmt.month(d.month), self.fmt.month(d.previous_month)
        lines = [
            f"**{self.t['title']} — {month}** · {self.t['whole_account']} · {self.t['previous_period']}: {previous}",
            "",
            f"| KPI | {month} | {previous} | ∆ |",
            "|---|---:|---:|---:|",
        ]
        for tile in self.tiles(Scope(ALL, "all")):
            change = f"{self.arrow(tile)} {self.change_text(tile)}".strip()
            now, before = self.show(tile.kind, tile.value), self.show(tile.kind, tile.previous)
            lines.append(f"| {self.t[tile.key]} | {now} | {before} | {change} |")
        lines += ["", f"[{self.t['title']} (HTML)]({link})"]
        return "\n".join(lines).replace("\u00a0", " ")


def _blended_cac(channels: list[ChannelCac]) -> Decimal | None:
    """Spend of every channel over the new customers of every channel."""
    return _combine_channels("", channels).cac


def _combine_channels(name: str, channels: list[ChannelCac]) -> ChannelCac:
    spends = [c.marketing_spend for c in channels if c.marketing_spend is not None]
    return ChannelCac(name, sum(spends, Decimal(0)) if spends else None, sum(c.new_customers for c in channels))


def _merge_losses(items: list[tuple[str, Loss]]) -> list[tuple[str, int, Decimal]]:
    """Losses that share a display label (e.g. null and "not specified") become one line, most lost first."""
    merged: dict[str, list] = {}
    for label, loss in items:
        entry = merged.setdefault(label, [0, Decimal(0)])
        entry[0] += loss.deals_lost
        entry[1] += loss.value_lost
    return sorted(((label, d, v) for label, (d, v) in merged.items()), key=lambda x: (-x[1], -x[2], x[0]))


def _pace_tone(attainment: float | None, elapsed: float) -> str | None:
    """Plan attainment against the share of the month gone by: 50 % on the 15th is on track."""
    if attainment is None:
        return None
    return "good" if attainment >= elapsed else ("warn" if attainment >= 0.8 * elapsed else "bad")

