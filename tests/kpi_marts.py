"""Comparing published tables with the independent reference, for one account or several.

`MARTS` names, per published table, the reference method, the key (account_id first, as in the marts)
and the float columns compared with a tolerance. A `KpiReference` is one account's; `MultiReference`
holds one per account and gives every table as their frames stacked, each row with its account_id
(and, on money tables, the account's currency).
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from frames import assert_frames_match

_PERIOD = ["period_grain", "period_start"]
# published table -> (reference method, key columns, float columns compared with a tolerance)
MARTS: dict[str, tuple[str, list[str], tuple[str, ...]]] = {
    "fct_sales_kpi": ("sales_kpi", ["account_id"] + _PERIOD + ["pipeline_id", "manager_id"],
                      ("win_rate", "cohort_conversion", "sales_cycle_days_sum", "sales_cycle_days_mean",
                       "sales_cycle_days_median", "sales_cycle_days_p90")),
    "fct_lost_deals": ("lost_deals", ["account_id"] + _PERIOD + ["pipeline_id", "manager_id", "loss_reason_id",
                                                                 "loss_reason", "lost_at_pipeline_id",
                                                                 "lost_at_status_id"], ()),
    "fct_manager_activity": ("manager_activity", ["account_id"] + _PERIOD + ["manager_id"], ()),
    "fct_funnel": ("funnel", ["account_id", "cohort_month", "pipeline_id", "status_id"],
                   ("stage_conversion", "open_here_age_hours_median", "open_here_age_hours_max",
                    "hours_in_stage_median", "hours_in_stage_p90")),
    "fct_cac": ("cac", ["account_id", "month", "channel"], ()),
    "fct_satisfaction": ("satisfaction", ["account_id"] + _PERIOD + ["manager_id"], ("csat", "nps")),
    "fct_plan_vs_fact": ("plan_vs_fact", ["account_id", "month", "manager_id"],
                         ("revenue_attainment", "deals_attainment")),
    "fct_forecast": ("forecast", ["account_id", "pipeline_id", "manager_id"], ()),
    "fct_response": ("response", ["account_id"] + _PERIOD + ["pipeline_id", "manager_id"],
                     ("responded_within_sla_share", "first_response_minutes_median", "first_response_minutes_p90")),
    "fct_pipeline_daily": ("pipeline_daily", ["account_id", "snapshot_date", "pipeline_id", "status_id", "manager_id"],
                           ()),
    "fct_crm_hygiene": ("crm_hygiene", ["account_id", "snapshot_date", "manager_id"], ()),
    "fct_sales_by_dimension": ("sales_by_dimension", ["account_id"] + _PERIOD + ["pipeline_id", "dimension",
                                                                                 "dimension_value"], ()),
}
# reference methods whose tables hold money, so carry the account's currency
MONEY = {"leads", "sales_kpi", "lost_deals", "cac", "plan_vs_fact", "forecast", "sales_by_dimension"}


def with_account(frame: pd.DataFrame, truth: Any, money: bool) -> pd.DataFrame:
    """`frame` with the account's id (and currency) as its first columns."""
    frame = frame.copy()
    if money:
        frame.insert(0, "currency", truth.account["currency"])
    frame.insert(0, "account_id", int(truth.account["id"]))
    return frame


class MultiReference:
    """The reference of several accounts: `references` maps account_id to that account's KpiReference.

    Any table method (`sales_kpi()`, `funnel()`, ...) and `leads` give the accounts' frames stacked,
    with account_id (and currency on money tables); `[account_id]` is one account's KpiReference.
    """

    def __init__(self, references: Mapping[int, Any]):
        self.references = dict(references)

    def __getitem__(self, account_id: int) -> Any:
        return self.references[account_id]

    def _stacked(self, method: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        parts = []
        for reference in self.references.values():
            table = getattr(reference, method)
            frame = table(*args, **kwargs) if callable(table) else table
            parts.append(with_account(frame, reference.truth, method in MONEY))
        return pd.concat(parts, ignore_index=True)

    @property
    def leads(self) -> pd.DataFrame:
        return self._stacked("leads")

    def __getattr__(self, method: str):
        if method.startswith("_") or method == "references":
            raise AttributeError(method)
        return lambda *args, **kwargs: self._stacked(method, *args, **kwargs)


def assert_mart_matches(actual: pd.DataFrame, reference: Any, table: str) -> None:
    """A published table equals the reference's (see MARTS): a MultiReference's rows per account, or a
    single account's KpiReference (whose rows are all that account's)."""
    method, key, approx = MARTS[table]
    expected = getattr(reference, method)()
    if not isinstance(reference, MultiReference):
        expected = with_account(expected, reference.truth, method in MONEY)
    assert_frames_match(actual, expected, key, approx=approx)
