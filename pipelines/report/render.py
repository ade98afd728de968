"""Turn `ReportData` into display-ready views, the HTML page and a Markdown summary.

All wording and formatting happens here, so the template only lays things
out. Every number the page shows also carries its exact value in a `data-value`
attribute (tiles, table cells), which lets tests and scripts read the report
back without parsing localized text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.report import charts, morning
from pipelines.report.data import ALL, GRAINS, STALE_AFTER_DAYS
from pipelines.report.format import Formatter
from pipelines.report.labels import LABELS
from pipelines.report.morning import summary as morning_summary
from pipelines.report.model import Forecast, ManagerRow, ReportData, SalesTotals, Satisfaction, Scope
from pipelines.report.tables import HALF_WIDTH, TableSections, blended_cac, raw

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


class Presenter(TableSections):
    """Formats one report's data in one language."""

    def __init__(self, data: ReportData, fmt: Formatter, morning_data: morning.MorningData | None = None):
        self.data = data
        self.morning = morning_data
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
        cac = [blended_cac(d.cac.get(m, [])) for m in (d.month, d.previous_month)]
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
            morning=morning.views(self.morning, self) if self.morning else None,
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
        if self.morning:
            lines += [""] + [f"- {line}" for line in morning_summary.lines(self.morning, d.month, self.t, self.fmt)]
        lines += ["", f"[{self.t['title']} (HTML)]({link})"]
        return "\n".join(lines).replace("\u00a0", " ")
