""""Morning checklist": the open deals per manager that need a look, from the newest CRM-hygiene snapshot.

`marts.fct_crm_hygiene` keeps one row set per extraction day; the page shows
the latest day, each count beside its share of the manager's open deals. The
measures are whichever of the known ones the table carries, in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from pipelines.report.morning.common import Unavailable, check_table, ratio
from pipelines.report.rows import columns, dict_rows
from pipelines.report.tables import Cell, Row, Table

TABLE = "fct_crm_hygiene"
MEASURES = ("open_without_next_task", "open_with_overdue_task", "stuck_deals", "open_without_price",
            "open_without_contact", "open_missing_required")
NEEDED = {"snapshot_date", "manager_id", "open_deals"}
STALE_AFTER_DAYS = 1  # a snapshot older than yesterday's means the daily runs stopped: say so


@dataclass(frozen=True)
class HygieneData:
    snapshot_date: date
    extracted_at: datetime | None
    measures: tuple[str, ...]  # the MEASURES the table carries
    rows: list[dict[str, Any]]  # manager_id, manager_name, open_deals and the measures; most open deals first


def load(con: duckdb.DuckDBPyConnection) -> HygieneData | Unavailable:
    why = check_table(con, TABLE, NEEDED)
    if why:
        return why
    present = columns(con, "marts", TABLE)
    measures = tuple(m for m in MEASURES if m in present)
    latest = con.execute(f"select max(snapshot_date) from marts.{TABLE}").fetchone()[0]
    if latest is None:
        return Unavailable(TABLE, "empty")
    extracted = "max(h.extracted_at)" if "extracted_at" in present else "null"
    sums = "".join(f", coalesce(sum(h.{m}), 0) as {m}" for m in measures)
    rows = dict_rows(con, f"""
        select h.manager_id, any_value(d.manager_name) as manager_name, coalesce(sum(h.open_deals), 0) as open_deals
               {sums}, {extracted} as extracted_at
        from marts.{TABLE} h left join marts.dim_managers d using (manager_id)
        where h.snapshot_date = ?
        group by h.manager_id
        order by open_deals desc, manager_name, h.manager_id
        """, [latest])
    extracted_at = max((r["extracted_at"] for r in rows if r["extracted_at"] is not None), default=None)
    return HygieneData(latest, extracted_at, measures, rows)


def view(data: HygieneData | Unavailable, p) -> dict[str, Any]:
    if isinstance(data, Unavailable):
        return {"unavailable": data}
    when = p.fmt.date(data.snapshot_date)
    if data.extracted_at is not None:
        when = p.fmt.datetime(data.extracted_at)
    age = (p.data.today - data.snapshot_date).days
    stale = p.t["hygiene_stale"].format(days=age) if age > STALE_AFTER_DAYS else None
    return {"unavailable": None, "table": _table(data, p), "note": p.t["hygiene_note"].format(when=when), "stale": stale}


def _cells(row: dict[str, Any], measures: tuple[str, ...], name: str, p) -> list[Cell]:
    open_deals = int(row["open_deals"])
    cells = [Cell(name, numeric=False), Cell(p.fmt.number(open_deals), "open_deals", open_deals)]
    for m in measures:
        n = int(row[m])
        share = ratio(n, open_deals)
        text = p.fmt.number(n) if not n else f"{p.fmt.number(n)} ({p.fmt.percent(share, 0)})"
        cells.append(Cell(text, m, n, tone="warn" if n else None))
    return cells


def _table(data: HygieneData, p) -> Table:
    rows = []
    for r in data.rows:
        m = r["manager_id"]
        name = r["manager_name"] or (p.t["unassigned"] if m is None else f"{p.t['user']} #{m}")
        rows.append(Row(f"m:{m}", _cells(r, data.measures, name, p), attrs={"data-manager": str(m)}))
    total = {k: sum(int(r[k]) for r in data.rows) for k in ("open_deals", *data.measures)}
    rows.append(Row("total", _cells(total, data.measures, p.t["total"], p), "total"))
    headers = [(p.t["manager"], False), (p.t["open_deals"], True)] + [(p.t[m], True) for m in data.measures]
    return Table("hygiene", headers, rows)
