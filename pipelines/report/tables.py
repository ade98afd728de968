"""The report's tables (losses, funnel, managers, CAC) and the cells they are made of.

`TableSections` is mixed into `Presenter` (render.py): each section is a chart
and a table of `Row`s of `Cell`s, every number with its exact value beside its
localized text, so tests and scripts read the page back without parsing text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from pipelines.report import charts
from pipelines.report.data import STALE_AFTER_DAYS
from pipelines.report.model import ChannelCac, Funnel, Loss, ManagerRow, Scope

HALF_WIDTH, FULL_WIDTH = 560, 1100  # chart viewBox widths: half a card, a whole card
MANAGER_ROWS = 25  # longer tables end with one "others" row, so the file stays small
LOSS_ROWS = 8
CHANNEL_ROWS = 12


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


class TableSections:
    """The table sections of `Presenter`, which gives them `data`, `fmt`, `t` and `manager_name`."""

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


def blended_cac(channels: list[ChannelCac]) -> Decimal | None:
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
