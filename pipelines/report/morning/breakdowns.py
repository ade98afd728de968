""""Breakdowns": this month's deal KPIs per tag, channel and configured custom field, one table per dimension.

Read from `marts.fct_sales_by_dimension`. A lead with several tags (or values
of a multi-select field) counts under each, so a dimension's rows do not add up
to the account: the tables have no total row, and the page says why. Money is
never summed across currencies: when the table carries a `currency` column
(several accounts), each value gets one row per currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from pipelines.report.morning.common import Unavailable, check_table, ratio
from pipelines.report.rows import columns, dict_rows
from pipelines.report.tables import Cell, Row, Table

TABLE = "fct_sales_by_dimension"
NEEDED = {"period_grain", "period_start", "dimension", "dimension_value", "leads_created", "deals_won",
          "revenue_won", "deals_lost"}
MAX_VALUES = 30  # values shown per dimension, most leads first; the rest are counted in a note
BUILT_IN = ("tag", "channel")  # listed first, then the configured fields by name
NOT_SPECIFIED = "not specified"


@dataclass(frozen=True)
class Dimension:
    name: str
    rows: list[dict[str, Any]]  # dimension_value, currency (or None), leads_created, deals_won, revenue_won, deals_lost
    hidden_values: int  # values beyond MAX_VALUES


@dataclass(frozen=True)
class BreakdownData:
    month: date
    dimensions: list[Dimension]
    several_currencies: bool


def load(con: duckdb.DuckDBPyConnection, month: date) -> BreakdownData | Unavailable:
    why = check_table(con, TABLE, NEEDED)
    if why:
        return why
    currency = "currency" if "currency" in columns(con, "marts", TABLE) else "null"
    rows = dict_rows(con, f"""
        select dimension, dimension_value, {currency} as currency,
               coalesce(sum(leads_created), 0) as leads_created, coalesce(sum(deals_won), 0) as deals_won,
               coalesce(sum(revenue_won), 0) as revenue_won, coalesce(sum(deals_lost), 0) as deals_lost
        from marts.{TABLE} where period_grain = 'month' and period_start = ?
        group by all
        order by dimension, leads_created desc, revenue_won desc, dimension_value, currency
        """, [month])
    names = [r[0] for r in con.execute(f"select distinct dimension from marts.{TABLE}").fetchall()]
    if not names:
        return Unavailable(TABLE, "empty")
    names.sort(key=lambda n: (BUILT_IN.index(n) if n in BUILT_IN else len(BUILT_IN), n))
    dimensions = []
    for name in names:
        mine = [r for r in rows if r["dimension"] == name]
        values = list(dict.fromkeys(r["dimension_value"] for r in mine))
        shown = set(values[:MAX_VALUES])
        dimensions.append(Dimension(name, [r for r in mine if r["dimension_value"] in shown],
                                    max(0, len(values) - MAX_VALUES)))
    return BreakdownData(month, dimensions, len({r["currency"] for r in rows}) > 1)


def dimension_label(name: str, p) -> str:
    return p.t.get(f"dimension_{name}", name) if name in BUILT_IN else name


def view(data: BreakdownData | Unavailable, p) -> dict[str, Any]:
    if isinstance(data, Unavailable):
        return {"unavailable": data}
    return {
        "unavailable": None,
        "note": p.t["breakdown_note"].format(month=p.fmt.month(data.month)),
        "dimensions": [{"key": d.name, "label": dimension_label(d.name, p), "table": _table(d, data, p),
                        "more": p.t["breakdown_more"].format(n=d.hidden_values) if d.hidden_values else None}
                       for d in data.dimensions],
    }


def _table(d: Dimension, data: BreakdownData, p) -> Table:
    rows = []
    for r in d.rows:
        value = r["dimension_value"]
        label = p.t["value_not_specified"] if value is None or value == NOT_SPECIFIED else str(value)
        won, lost, revenue = int(r["deals_won"]), int(r["deals_lost"]), Decimal(r["revenue_won"])
        average = revenue / won if won else None

        def money(amount: Decimal | None) -> str:  # with several currencies: the amount and its own code
            if not data.several_currencies or amount is None:
                return p.fmt.money(amount)
            return f"{p.fmt.number(amount)} {r['currency']}"

        cells = [Cell(label, numeric=False)]
        if data.several_currencies:
            cells.append(Cell(str(r["currency"] or ""), numeric=False))
        cells += [
            Cell(p.fmt.number(r["leads_created"]), "leads_created", int(r["leads_created"])),
            Cell(p.fmt.number(won), "deals_won", won),
            Cell(money(revenue), "revenue_won", revenue),
            Cell(money(average), "avg_deal_value", average),
            Cell(p.fmt.number(lost), "deals_lost", lost),
            Cell(p.fmt.percent(ratio(won, won + lost)), "win_rate", ratio(won, won + lost)),
        ]
        key = f"{value}|{r['currency']}" if data.several_currencies else value
        rows.append(Row(str(key), cells))
    headers = [(dimension_label(d.name, p), False)]
    if data.several_currencies:
        headers.append((p.t["currency"], False))
    headers += [(p.t[k], True) for k in ("leads_created", "deals_won", "revenue_won", "avg_deal_value", "deals_lost",
                                          "win_rate")]
    return Table("breakdown", headers, rows)
