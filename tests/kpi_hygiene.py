"""The issue-15 parts of kpi_reference: the daily open pipeline, the hygiene snapshot, sales by dimension.

Like kpi_reference, this shares no code with the dbt project and starts from the simulator's truth.
Decisions (as the dbt model descriptions write them): deleted leads count nowhere; a day's pipeline is
the state at the end of that day (account timezone), the extraction day's as of the extraction; price
and manager are the lead's current ones; a stage's "stuck" line on day D is the 90th percentile of
the completed stays of live leads left on D or the 179 days before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

WON, LOST = 142, 143
NOT_SPECIFIED = "not specified"


def _live_leads(reference: Any) -> pd.DataFrame:
    return reference.leads[~reference.leads["is_deleted"].astype(bool)]


def _history(reference: Any) -> pd.DataFrame:
    """Stays of live leads, with local entered and left dates (left_date None while current)."""
    history = reference.history[reference.history["lead_id"].isin(_live_leads(reference)["lead_id"])].copy()
    history["entered_date"] = [reference.local_date(t) for t in history["entered_at"]]
    history["left_date"] = [reference.local_date(t) for t in history["left_at"]]
    return history


class StuckLines:
    """Per stage and day: the 90th percentile (linear) of the hours of completed stays left in the
    180 local days ending that day; None without any."""

    def __init__(self, history: pd.DataFrame):
        done = history[history["left_at"].notna() & ~history["status_id"].isin([WON, LOST])]
        self._stays = {
            key: (np.array([d.toordinal() for d in group["left_date"]]),
                  ((group["left_at"].astype(float) - group["entered_at"].astype(float)) / 3600).to_numpy())
            for key, group in done.groupby(["pipeline_id", "status_id"])
        }
        self._cache: dict = {}

    def line(self, pipeline: int, status: int, day: Any) -> float | None:
        key = (pipeline, status, day)
        if key not in self._cache:
            days, hours = self._stays.get((pipeline, status), (np.array([]), np.array([])))
            inside = hours[(days <= day.toordinal()) & (days > day.toordinal() - 180)]
            self._cache[key] = float(np.quantile(inside, 0.9)) if len(inside) else None
        return self._cache[key]

    def is_stuck(self, pipeline: int, status: int, day: Any, hours: float) -> bool:
        line = self.line(pipeline, status, day)
        return line is not None and hours > line


def _day_end(reference: Any, day: Any) -> float:
    """Unix time of the local midnight ending `day`."""
    return pd.Timestamp(day + timedelta(days=1)).tz_localize(reference.tz).timestamp()


def pipeline_daily(reference: Any) -> pd.DataFrame:
    """fct_pipeline_daily: open deals per day, stage and current manager at the end of each day."""
    leads = _live_leads(reference).set_index("lead_id")
    history = _history(reference)
    lines = StuckLines(history)
    # "now" on the last day: the extraction, or the newest status change when later (int_pipeline_calendar)
    limit = max(reference.extracted_at, float(reference.history["entered_at"].max()))
    last_day = reference.local_date(limit)
    rows = []
    for stay in history[~history["status_id"].isin([WON, LOST])].itertuples():
        day, end = stay.entered_date, stay.left_date
        while day <= last_day and (end is None or day < end):
            as_of = min(_day_end(reference, day), limit)
            hours = (as_of - float(stay.entered_at)) / 3600
            lead = leads.loc[stay.lead_id]
            rows.append(dict(snapshot_date=day, pipeline_id=stay.pipeline_id, status_id=stay.status_id,
                             manager_id=lead["manager_id"], price=int(lead["price"]),
                             stuck=lines.is_stuck(stay.pipeline_id, stay.status_id, day, hours)))
            day += timedelta(days=1)
    frame = pd.DataFrame(rows, columns=["snapshot_date", "pipeline_id", "status_id", "manager_id", "price", "stuck"])
    out = frame.groupby(["snapshot_date", "pipeline_id", "status_id", "manager_id"]).agg(
        open_deals=("price", "size"), open_value=("price", "sum"), stuck_deals=("stuck", "sum"))
    return out.astype("int64").reset_index()


def _matches(reference_text: str, field_id: Any, name: Any, code: Any) -> bool:
    """A dbt var entry names the field: a numeric id, else its name or code (any case)."""
    text = str(reference_text).strip()
    if text.isdigit():
        return int(text) == int(field_id)
    return text.lower() in {str(name).lower(), str(code).lower()}


def _field_values(reference: Any, field: str) -> pd.DataFrame:
    values = reference.truth.lead_field_values
    chosen = [_matches(field, i, n, c) for i, n, c in zip(values["field_id"], values["field_name"], values["field_code"])]
    return values[chosen]


def crm_hygiene(reference: Any, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """fct_crm_hygiene for the extraction day (`required`: var amocrm_required_fields)."""
    truth = reference.truth
    leads = _live_leads(reference)
    open_leads = leads[~leads["is_won"] & ~leads["is_lost"]].copy()
    tasks = truth.tasks[(truth.tasks["entity_type"] == "leads") & ~truth.tasks["is_completed"].astype(bool)
                        & ~truth.tasks["is_deleted"].astype(bool)]
    with_task = set(tasks["entity_id"])
    overdue = set(tasks.loc[tasks["complete_till"] < reference.extracted_at, "entity_id"])
    live_contacts = set(truth.contacts.loc[~truth.contacts["is_deleted"].astype(bool), "id"])
    links = truth.lead_contacts
    with_contact = set(links.loc[links["contact_id"].isin(live_contacts), "lead_id"])
    missing = set()
    for field in required:
        filled = _field_values(reference, field)
        missing |= set(open_leads["lead_id"]) - set(filled.loc[filled["value"].str.strip() != "", "lead_id"])
    history = _history(reference)
    current = history[history["is_current"]].set_index("lead_id")
    lines = StuckLines(history)
    today = reference.local_date(reference.extracted_at)
    stuck = set()
    for lead_id in open_leads["lead_id"]:
        stay = current.loc[lead_id]
        hours = (reference.extracted_at - float(stay["entered_at"])) / 3600
        if lines.is_stuck(stay["pipeline_id"], stay["status_id"], today, hours):
            stuck.add(lead_id)
    ids = open_leads["lead_id"]
    open_leads = open_leads.assign(
        open_without_next_task=~ids.isin(with_task), open_with_overdue_task=ids.isin(overdue),
        open_without_price=open_leads["price"] == 0, open_without_contact=~ids.isin(with_contact),
        open_missing_required=ids.isin(missing), stuck_deals=ids.isin(stuck), open_deals=True)
    measures = ["open_deals", "open_without_next_task", "open_with_overdue_task", "open_without_price",
                "open_without_contact", "open_missing_required", "stuck_deals"]
    out = open_leads.groupby("manager_id")[measures].sum().astype("int64").reset_index()
    out.insert(0, "snapshot_date", today)
    return out


def sales_by_dimension(reference: Any, fields: tuple[str, ...] = ("city", "product")) -> pd.DataFrame:
    """fct_sales_by_dimension: a lead counts under every value it has (several tags: under each)."""
    leads = _live_leads(reference)
    ids = leads[["lead_id"]]
    parts = []
    tags = reference.truth.lead_tags[["lead_id", "tag_name"]].drop_duplicates()
    parts.append(ids.merge(tags, on="lead_id", how="left").assign(dimension="tag")
                 .rename(columns={"tag_name": "dimension_value"}))
    parts.append(leads[["lead_id", "channel"]].assign(dimension="channel").rename(columns={"channel": "dimension_value"}))
    for field in fields:
        values = _field_values(reference, field)[["lead_id", "value"]].drop_duplicates()
        parts.append(ids.merge(values, on="lead_id", how="left").assign(dimension=field)
                     .rename(columns={"value": "dimension_value"}))
    values = pd.concat(parts, ignore_index=True)
    values["dimension_value"] = values["dimension_value"].fillna(NOT_SPECIFIED)
    created = leads.assign(day=leads["created_date"], leads_created=1, deals_won=0, deals_lost=0, revenue_won=0)
    closed = leads[(leads["is_won"] | leads["is_lost"]) & leads["closed_date"].notna()]
    closed = closed.assign(day=closed["closed_date"], leads_created=0, deals_won=closed["is_won"].astype(int),
                           deals_lost=closed["is_lost"].astype(int), revenue_won=closed["price"].where(closed["is_won"], 0))
    facts = pd.concat([created, closed], ignore_index=True)[
        ["lead_id", "pipeline_id", "day", "leads_created", "deals_won", "deals_lost", "revenue_won"]]
    facts = reference._by_periods(facts.merge(values, on="lead_id"), "day")
    key = ["period_grain", "period_start", "pipeline_id", "dimension", "dimension_value"]
    measures = ["leads_created", "deals_won", "revenue_won", "deals_lost"]
    return facts.groupby(key)[measures].sum().astype("int64").reset_index()
