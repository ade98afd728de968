"""What the report shows: plain, typed figures read from the marts.

Only counts and sums are stored; every ratio (win rate, average deal, CAC, NPS,
conversion, attainment) is a property computed from the summed parts, never
averaged from per-row ratios, so the report agrees with the marts at any roll-up.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal


def shift_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Account:
    language: str | None = None
    currency: str | None = None
    currency_symbol: str | None = None
    timezone: str | None = None
    name: str | None = None
    simulated: bool = False  # marts.meta_source: the embedded simulator's demo data
    source_host: str | None = None  # marts.meta_source: the amoCRM API host the data came from


@dataclass(frozen=True)
class Scope:
    key: str  # "all", "p:<pipeline_id>", "m:<manager_id>"
    kind: str  # "all", "pipeline", "manager"
    id: int | None = None
    name: str | None = None


def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


@dataclass(frozen=True)
class SalesTotals:
    leads_created: int = 0
    deals_won: int = 0
    revenue_won: Decimal = Decimal(0)
    deals_lost: int = 0
    cycle_days_sum: float = 0.0  # sum over wins of the cycle length = mean * deals, added up
    cycle_deals: int = 0  # wins whose cycle is known

    @property
    def avg_deal_value(self) -> Decimal | None:
        return self.revenue_won / self.deals_won if self.deals_won else None

    @property
    def win_rate(self) -> float | None:
        return _ratio(self.deals_won, self.deals_won + self.deals_lost)

    @property
    def cycle_days_mean(self) -> float | None:
        return _ratio(self.cycle_days_sum, self.cycle_deals)


@dataclass(frozen=True)
class Satisfaction:
    responses: int = 0
    nps_sum: float = 0.0  # NPS points times responses, added up

    @property
    def nps(self) -> float | None:
        return _ratio(self.nps_sum, self.responses)


@dataclass(frozen=True)
class ChannelCac:
    channel: str
    marketing_spend: Decimal | None
    new_customers: int
    source_name: str | None = None  # the amoCRM source's name when the channel is a source id

    @property
    def label(self) -> str:
        """What a reader recognises: the source's name beside its id, else the channel as it is."""
        return f"{self.source_name} ({self.channel})" if self.source_name else self.channel

    @property
    def cac(self) -> Decimal | None:
        if self.marketing_spend is None or not self.new_customers:
            return None
        return self.marketing_spend / self.new_customers


@dataclass(frozen=True)
class Forecast:
    open_deals: int = 0
    open_value: Decimal = Decimal(0)
    weighted_value: Decimal = Decimal(0)
    month_to_date_revenue: Decimal = Decimal(0)
    month_run_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class Loss:
    name: str | None  # loss reason or stage name; None = not specified / unknown
    pipeline: str | None  # the stage's pipeline (losses by stage only)
    deals_lost: int
    value_lost: Decimal


@dataclass(frozen=True)
class FunnelStage:
    status_id: int
    name: str
    is_won: bool
    reached: int = 0
    reached_next: int = 0
    lost_here: int = 0
    hours_median: float | None = None  # reached-weighted mean of the cohorts' medians
    hours_p90: float | None = None
    open_now: int = 0
    open_stale: int = 0

    @property
    def conversion(self) -> float | None:
        return None if self.is_won else _ratio(self.reached_next, self.reached)


@dataclass(frozen=True)
class Funnel:
    pipeline_id: int
    name: str
    stages: list[FunnelStage]


@dataclass(frozen=True)
class ManagerRow:
    manager_id: int | None  # None for a combined row ("other managers", "total")
    name: str | None
    group: str | None = None
    is_active: bool = True
    revenue_won: Decimal = Decimal(0)
    deals_won: int = 0
    deals_lost: int = 0
    calls: int = 0
    meetings: int = 0
    messages: int = 0
    target_revenue: Decimal | None = None
    plan_revenue_won: Decimal | None = None  # fact beside a target (rows with a target only)
    target_deals: int | None = None
    plan_deals_won: int | None = None
    members: int = 1

    @property
    def win_rate(self) -> float | None:
        return _ratio(self.deals_won, self.deals_won + self.deals_lost)

    @property
    def revenue_attainment(self) -> float | None:
        return _ratio(self.plan_revenue_won, self.target_revenue)

    @property
    def deals_attainment(self) -> float | None:
        return _ratio(self.plan_deals_won, self.target_deals)

    @classmethod
    def combine(cls, rows: list[ManagerRow], name: str | None = None) -> ManagerRow:
        """One row summing `rows`; ratios then follow from the sums."""
        summed = {}
        for f in fields(cls):
            if f.name in ("manager_id", "name", "group", "is_active"):
                continue
            values = [getattr(r, f.name) for r in rows if getattr(r, f.name) is not None]
            summed[f.name] = sum(values) if values else (None if f.default is None else f.default)
        summed["members"] = sum(r.members for r in rows)
        return cls(manager_id=None, name=name, **summed)


@dataclass(frozen=True)
class ReportData:
    account: Account
    today: date
    periods: dict[str, list[date]]  # grain -> period starts, oldest first, the current one last
    scopes: list[Scope]
    sales: dict[tuple[str, str, date], SalesTotals]  # (scope, grain, period_start)
    satisfaction: dict[tuple[str, date], Satisfaction]  # (scope, month); account and managers
    cac: dict[date, list[ChannelCac]]  # month -> channels
    forecast: dict[str, Forecast]
    losses_by_reason: dict[tuple[str, date], list[Loss]]  # (scope, month), most lost first
    losses_by_stage: dict[tuple[str, date], list[Loss]]
    funnels: list[Funnel]
    funnel_since: date
    managers: list[ManagerRow]  # current month, most revenue first

    @property
    def month(self) -> date:
        return self.periods["month"][-1]

    @property
    def previous_month(self) -> date:
        return self.periods["month"][-2]

    @property
    def month_elapsed(self) -> float:
        """Share of the current month gone by at the end of `today`."""
        days_in_month = (shift_months(self.month, 1) - self.month).days
        return ((self.today - self.month).days + 1) / days_in_month

    def sales_at(self, scope: str, grain: str, start: date) -> SalesTotals:
        return self.sales.get((scope, grain, start), SalesTotals())
