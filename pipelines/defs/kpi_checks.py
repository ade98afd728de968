"""Warnings on the morning KPIs: the marts are right, but the numbers call for someone to act.

| check | on | warns when | setting (default) |
|---|---|---|---|
| `sla_share_above_floor` | `marts/fct_response` | yesterday (account timezone), the share of new leads answered within `amocrm_response_sla_minutes` is below the floor | `AMOCRM_KPI_SLA_SHARE_FLOOR` (0.8) |
| `open_deals_without_task_below_ceiling` | `marts/fct_crm_hygiene` | in the latest snapshot, the share of open deals without a next task is above the ceiling | `AMOCRM_KPI_NO_TASK_SHARE_CEILING` (0.2) |

Both are WARN checks: the run still publishes, and `alert_on_failed_checks` sends the
description (the share, the threshold, who is off and what to do) to on-call. A threshold
that is not a share in 0..1 stops Dagster from loading the definitions, naming the variable.
Each account is judged alone, on its own yesterday and its own latest snapshot (shares are never
added across accounts): the check warns when any account is off, and with several accounts the text
names each such account (subdomain and amoCRM id) and the metadata has one entry per account.
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
with accounts as (select account_id, subdomain, count(*) over () as accounts from marts.dim_accounts),
managers as (select account_id, manager_id as id, max(manager_name) as name from marts.dim_managers group by all),
pipelines as (select account_id, pipeline_id as id, max(pipeline_name) as name from marts.dim_pipeline_stages group by all)
"""
# each account is judged alone; with several in the warehouse its part of the text starts with its name
ACCOUNT_LABEL = ("case when accounts.accounts > 1 then 'Account ' || coalesce(accounts.subdomain, 'without subdomain') "
                 "|| ' (amoCRM account ' || accounts.account_id || '): ' else '' end")


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


def _query(sql: str, params: list | None = None) -> list[dict]:
    """Rows as dicts, read by column name."""
    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        cursor = con.execute(sql, params or [])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.0%} ({part:g} of {whole:g})"


@dg.asset_check(asset=RESPONSE, name="sla_share_above_floor", blocking=False, pool=DUCKDB_POOL,
                description=f"Yesterday's share of new leads answered within the SLA is at least "
                            f"{SLA_SHARE_FLOOR[0]} (default {SLA_SHARE_FLOOR[1]}), in each account.")
def sla_share_above_floor() -> dg.AssetCheckResult:
    floor = share_setting(SLA_SHARE_FLOOR)
    rows = _query(NAMES + f"""
        , yesterday as (select account_id, extracted_date - 1 as day from intermediate.int_extraction)
        select {ACCOUNT_LABEL} as account,
               coalesce(managers.name, 'manager ' || r.manager_id, 'no manager') as manager,
               coalesce(pipelines.name, 'pipeline ' || r.pipeline_id) as pipeline,
               yesterday.day, r.responded_within_sla as on_time, r.leads_sla_elapsed as elapsed
        from marts.fct_response as r
        inner join yesterday on yesterday.account_id = r.account_id and r.period_start = yesterday.day
        inner join accounts on accounts.account_id = r.account_id
        left join managers on managers.account_id = r.account_id and managers.id = r.manager_id
        left join pipelines on pipelines.account_id = r.account_id and pipelines.id = r.pipeline_id
        where r.period_grain = 'day' and r.leads_sla_elapsed > 0
        """)
    judged = _judge_each_account(
        rows, lambda part: _sla_of_account(part, floor), floor=floor,
        what_to_do="ask these managers to answer new leads sooner and check how leads are assigned to them "
                   "(fct_response shows the leads per day, manager and pipeline).")
    if judged is not None:
        return judged
    day = _query("select max(extracted_date) - 1 as day from intermediate.int_extraction")[0]["day"]
    return dg.AssetCheckResult(passed=True, description=f"no new leads on {day}",
                               metadata={"day": str(day), "floor": floor, "leads": 0, "answered_within_sla": 0})


def _sla_of_account(rows: list[dict], floor: float) -> tuple[dict, str | None]:
    """One account's yesterday: (its metadata, the sentence when it is below the floor)."""
    day, account = max(r["day"] for r in rows), rows[0]["account"]
    on_time, elapsed = sum(r["on_time"] for r in rows), sum(r["elapsed"] for r in rows)
    below = {kind: _below(rows, kind[:-1], floor) for kind in ("managers", "pipelines")}
    metadata = {"day": str(day), "leads": elapsed, "answered_within_sla": on_time, "share": round(on_time / elapsed, 4),
                **{f"{kind}_below_floor": v for kind, v in below.items()}}
    text = None if on_time / elapsed >= floor else (
        f"{account}On {day} only {_pct(on_time, elapsed)} of new leads were answered within the SLA "
        f"(dbt var amocrm_response_sla_minutes); the floor is {floor:.0%} ({SLA_SHARE_FLOOR[0]}). "
        f"Below the floor: managers {_listed(below['managers'])}; pipelines {_listed(below['pipelines'])}.")
    return metadata, text


def _judge_each_account(rows: list[dict], judge, what_to_do: str, **settings) -> dg.AssetCheckResult | None:
    """Each account's rows judged alone (`judge(its rows) -> (its metadata, its sentence when off)`): one WARN
    result whose text names every account that is off, then what to do; None when there are no rows."""
    judged = {account: judge(part) for account, part in _by_account(rows).items()}
    if not judged:
        return None
    failing = [text for _, text in judged.values() if text]
    return dg.AssetCheckResult(
        passed=not failing, severity=dg.AssetCheckSeverity.WARN, metadata=_per_account_metadata(judged, **settings),
        description=" ".join(failing) + f" What to do: {what_to_do}" if failing else None)


def _by_account(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["account"], []).append(row)
    return grouped


def _per_account_metadata(judged: dict[str, tuple[dict, str | None]], **settings) -> dict:
    """One account in the warehouse: its figures at the top level; several: `accounts` {name: figures}, never
    added up (a name is empty only when the warehouse holds one account)."""
    if list(judged) == [""]:
        ((metadata, _),) = judged.values()
        return {**settings, **metadata}
    return {**settings, "accounts": {name.removesuffix(": "): m for name, (m, _) in judged.items()},
            "accounts_off": [name.removesuffix(": ") for name, (_, text) in judged.items() if text]}


def _below(rows: list[dict], column: str, floor: float) -> dict[str, str]:
    """`{name: "40% (2 of 5)"}` of the managers or pipelines whose own share is below the floor."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        total = totals.setdefault(row[column], [0, 0])
        total[0] += row["on_time"]
        total[1] += row["elapsed"]
    return {name: _pct(ok, n) for name, (ok, n) in sorted(totals.items(), key=lambda t: t[1][0] / t[1][1])
            if ok / n < floor}


def _listed(named: dict[str, str]) -> str:
    return ", ".join(f"{name} {share}" for name, share in named.items()) or "none alone"


@dg.asset_check(asset=HYGIENE, name="open_deals_without_task_below_ceiling", blocking=False, pool=DUCKDB_POOL,
                description=f"In the latest snapshot, the share of open deals without a next task is at most "
                            f"{NO_TASK_SHARE_CEILING[0]} (default {NO_TASK_SHARE_CEILING[1]}), in each account.")
def open_deals_without_task_below_ceiling() -> dg.AssetCheckResult:
    ceiling = share_setting(NO_TASK_SHARE_CEILING)
    rows = _query(NAMES + f"""
        select {ACCOUNT_LABEL} as account,
               coalesce(managers.name, 'manager ' || h.manager_id, 'no manager') as manager,
               h.snapshot_date, h.open_without_next_task as without_task, h.open_deals
        from marts.fct_crm_hygiene as h
        inner join accounts on accounts.account_id = h.account_id
        left join managers on managers.account_id = h.account_id and managers.id = h.manager_id
        where h.open_deals > 0 and h.snapshot_date = (
            select max(latest.snapshot_date) from marts.fct_crm_hygiene as latest where latest.account_id = h.account_id)
        """)
    judged = _judge_each_account(
        rows, lambda part: _hygiene_of_account(part, ceiling), ceiling=ceiling,
        what_to_do="ask these managers to set a next task on each open deal, or to close the deals that are "
                   "dead (fct_crm_hygiene shows the counts per manager).")
    if judged is not None:
        return judged
    return dg.AssetCheckResult(passed=True, description="no open deals", metadata={
        "snapshot_date": None, "ceiling": ceiling, "open_deals": 0, "without_next_task": 0})


def _hygiene_of_account(rows: list[dict], ceiling: float) -> tuple[dict, str | None]:
    """One account's latest snapshot: (its metadata, the sentence when it is above the ceiling)."""
    account, day = rows[0]["account"], str(max(r["snapshot_date"] for r in rows))
    without, open_deals = sum(r["without_task"] for r in rows), sum(r["open_deals"] for r in rows)
    ranked = sorted(rows, key=lambda r: -r["without_task"] / r["open_deals"])
    above = {r["manager"]: _pct(r["without_task"], r["open_deals"])
             for r in ranked if r["without_task"] / r["open_deals"] > ceiling}
    metadata = {"snapshot_date": day, "open_deals": open_deals, "without_next_task": without,
                "share": round(without / open_deals, 4), "managers_above_ceiling": above}
    text = None if without / open_deals <= ceiling else (
        f"{account}On {day} {_pct(without, open_deals)} of open deals have no next task; the ceiling is {ceiling:.0%} "
        f"({NO_TASK_SHARE_CEILING[0]}). Above the ceiling: managers {_listed(above)}.")
    return metadata, text


# Fail fast: a mistyped threshold stops the definitions from loading, not a run at 05:00.
share_setting(SLA_SHARE_FLOOR)
share_setting(NO_TASK_SHARE_CEILING)
KPI_CHECKS = [sla_share_above_floor, open_deals_without_task_below_ceiling]
