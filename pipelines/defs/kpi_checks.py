"""Warnings on the morning KPIs: the marts are right, but the numbers call for someone to act.

| check | on | warns when | setting (default) |
|---|---|---|---|
| `sla_share_above_floor` | `marts/fct_response` | yesterday (account timezone), the share of new leads answered within `amocrm_response_sla_minutes` is below the floor | `AMOCRM_KPI_SLA_SHARE_FLOOR` (0.8) |
| `open_deals_without_task_below_ceiling` | `marts/fct_crm_hygiene` | in the latest snapshot, the share of open deals without a next task is above the ceiling | `AMOCRM_KPI_NO_TASK_SHARE_CEILING` (0.2) |

Both are WARN checks: the run still publishes, and `alert_on_failed_checks` sends the
description (the share, the threshold, who is off and what to do) to on-call. A threshold
that is not a share in 0..1 stops Dagster from loading the definitions, naming the variable.
"""

from __future__ import annotations

import os

import dagster as dg
import duckdb

from pipelines import paths
from pipelines.defs.transform import DUCKDB_POOL

SLA_SHARE_FLOOR = ("AMOCRM_KPI_SLA_SHARE_FLOOR", 0.8)
NO_TASK_SHARE_CEILING = ("AMOCRM_KPI_NO_TASK_SHARE_CEILING", 0.2)
RESPONSE = dg.AssetKey(["marts", "fct_response"])
HYGIENE = dg.AssetKey(["marts", "fct_crm_hygiene"])
NAMES = """
with managers as (select manager_id as id, max(manager_name) as name from marts.dim_managers group by all),
pipelines as (select pipeline_id as id, max(pipeline_name) as name from marts.dim_pipeline_stages group by all)
"""


class ThresholdError(ValueError):
    """A KPI warning threshold that is not a share between 0 and 1."""


def share_setting(setting: tuple[str, float]) -> float:
    """The share set in the environment variable, else its default; anything but 0..1 is refused."""
    name, default = setting
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1:  # also refuses nan
        raise ThresholdError(
            f"{name} must be a share between 0 and 1 (e.g. {default} for {default:.0%}), got {raw!r}. "
            f"Fix or unset it (default {default}) and restart Dagster."
        )
    return value


def _query(sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.0%} ({part:g} of {whole:g})"


@dg.asset_check(asset=RESPONSE, name="sla_share_above_floor", blocking=False, pool=DUCKDB_POOL,
                description=f"Yesterday's share of new leads answered within the SLA is at least "
                            f"{SLA_SHARE_FLOOR[0]} (default {SLA_SHARE_FLOOR[1]}).")
def sla_share_above_floor() -> dg.AssetCheckResult:
    floor = share_setting(SLA_SHARE_FLOOR)
    day = _query("select max(extracted_date) - 1 from intermediate.int_extraction")[0][0]
    rows = _query(NAMES + """
        select coalesce(managers.name, 'manager ' || r.manager_id, 'no manager') as manager,
               coalesce(pipelines.name, 'pipeline ' || r.pipeline_id) as pipeline,
               r.responded_within_sla, r.leads_sla_elapsed
        from marts.fct_response as r
        left join managers on managers.id = r.manager_id
        left join pipelines on pipelines.id = r.pipeline_id
        where r.period_grain = 'day' and r.period_start = ? and r.leads_sla_elapsed > 0
        """, [day])
    on_time, elapsed = sum(r[2] for r in rows), sum(r[3] for r in rows)
    metadata = {"day": str(day), "floor": floor, "leads": elapsed, "answered_within_sla": on_time}
    if not elapsed:
        return dg.AssetCheckResult(passed=True, metadata=metadata, description=f"no new leads on {day}")
    share = on_time / elapsed
    below = {kind: _below(rows, column, floor) for kind, column in (("managers", 0), ("pipelines", 1))}
    passed = share >= floor
    metadata |= {"share": round(share, 4), **{f"{kind}_below_floor": v for kind, v in below.items()}}
    description = None if passed else (
        f"On {day} only {_pct(on_time, elapsed)} of new leads were answered within the SLA "
        f"(dbt var amocrm_response_sla_minutes); the floor is {floor:.0%} ({SLA_SHARE_FLOOR[0]}). "
        f"Below the floor: managers {_listed(below['managers'])}; pipelines {_listed(below['pipelines'])}. "
        "What to do: ask these managers to answer new leads sooner and check how leads are assigned to them "
        "(fct_response shows the leads per day, manager and pipeline)."
    )
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                               description=description)


def _below(rows: list[tuple], column: int, floor: float) -> dict[str, str]:
    """`{name: "40% (2 of 5)"}` of the managers or pipelines whose own share is below the floor."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        total = totals.setdefault(row[column], [0, 0])
        total[0] += row[2]
        total[1] += row[3]
    return {name: _pct(ok, n) for name, (ok, n) in sorted(totals.items(), key=lambda t: t[1][0] / t[1][1])
            if ok / n < floor}


def _listed(named: dict[str, str]) -> str:
    return ", ".join(f"{name} {share}" for name, share in named.items()) or "none alone"


@dg.asset_check(asset=HYGIENE, name="open_deals_without_task_below_ceiling", blocking=False, pool=DUCKDB_POOL,
                description=f"In the latest snapshot, the share of open deals without a next task is at most "
                            f"{NO_TASK_SHARE_CEILING[0]} (default {NO_TASK_SHARE_CEILING[1]}).")
def open_deals_without_task_below_ceiling() -> dg.AssetCheckResult:
    ceiling = share_setting(NO_TASK_SHARE_CEILING)
    rows = _query(NAMES + """
        select coalesce(managers.name, 'manager ' || h.manager_id, 'no manager'), h.snapshot_date,
               h.open_without_next_task, h.open_deals
        from marts.fct_crm_hygiene as h
        left join managers on managers.id = h.manager_id
        where h.snapshot_date = (select max(snapshot_date) from marts.fct_crm_hygiene) and h.open_deals > 0
        """)
    without, open_deals = sum(r[2] for r in rows), sum(r[3] for r in rows)
    day = str(rows[0][1]) if rows else None
    metadata = {"snapshot_date": day, "ceiling": ceiling, "open_deals": open_deals, "without_next_task": without}
    if not open_deals:
        return dg.AssetCheckResult(passed=True, metadata=metadata, description="no open deals")
    share = without / open_deals
    above = {r[0]: _pct(r[2], r[3]) for r in sorted(rows, key=lambda r: -r[2] / r[3]) if r[2] / r[3] > ceiling}
    passed = share <= ceiling
    metadata |= {"share": round(share, 4), "managers_above_ceiling": above}
    description = None if passed else (
        f"On {day} {_pct(without, open_deals)} of open deals have no next task; the ceiling is {ceiling:.0%} "
        f"({NO_TASK_SHARE_CEILING[0]}). Above the ceiling: managers {_listed(above)}. "
        "What to do: ask these managers to set a next task on each open deal, or to close the deals that are "
        "dead (fct_crm_hygiene shows the counts per manager)."
    )
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                               description=description)


# Fail fast: a mistyped threshold stops the definitions from loading, not a run at 05:00.
share_setting(SLA_SHARE_FLOOR)
share_setting(NO_TASK_SHARE_CEILING)
KPI_CHECKS = [sla_share_above_floor, open_deals_without_task_below_ceiling]
