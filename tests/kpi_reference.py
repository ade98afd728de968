"""The published KPIs computed independently in pandas from the simulator's ground truth.

Follows ../shared/kpi-contract.md and the decisions written in the dbt model descriptions
(dbt_project/models/marts/_marts__models.yml), and shares no code or SQL with the dbt project: it
starts from `sim.truth()` (the account as the API would show it), not from the raw tables. Every
method returns a frame with the key and measure columns of one published table, so tests compare the
marts with it table by table.

Conventions, as in the marts:
- local dates in the account timezone; ISO weeks start on Monday, months on the 1st;
- percentiles are continuous with linear interpolation (pandas' default `quantile`, DuckDB's
  `quantile_cont`);
- money ratios are rounded half up to cents (`Decimal`), other ratios are floats;
- deleted leads (and activities on deleted leads, contacts and companies) count in no KPI, nor do
  deleted tasks and notes;
- a status that was deleted from its pipeline but is named by the status history is a stage of the
  path, flagged deleted, placed right after the listed active stage leads most often entered it from.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from frames import assert_frames_match  # noqa: F401  (re-exported: tests import it from here)
from kpi_common import (ENTITY, GRAINS, LOST, WON, _percentile, money_ratio,  # noqa: F401  (re-exported)
                        month_end_wins, period_start, ratio)
from kpi_hygiene import crm_hygiene, pipeline_daily, sales_by_dimension
from kpi_marts import MARTS, MultiReference, assert_mart_matches  # noqa: F401  (re-exported)
from kpi_pipeline import forecast, path_stages

class KpiReference:
    """Every published table of the contract, from a `Truth` and the user inputs.

    `extracted_at` (unix seconds, float) is the extraction time, the marts' "now" for overdue tasks,
    open-stage ages and the forecast; `spend` and `targets` are the rows of the user CSV files
    (dicts with the CSV's columns, values already typed: month as a date, amounts as Decimal).
    """

    def __init__(
        self,
        truth: Any,
        *,
        extracted_at: float,
        spend: list[dict[str, Any]],
        targets: list[dict[str, Any]],
        meeting_code: str = "MEETING",
        forecast_window_days: int = 180,
        response_sla_minutes: int = 15,
    ):
        self.truth = truth
        self.tz = ZoneInfo(truth.account["timezone"])
        self.extracted_at = extracted_at
        self.spend = spend
        self.targets = targets
        self.meeting_code = meeting_code
        self.forecast_window_days = forecast_window_days
        self.response_sla_minutes = response_sla_minutes

    # --- helpers -------------------------------------------------------------------------------

    def local_date(self, seconds: Any) -> Any:
        """The calendar date of a unix time in the account timezone (None for a missing time)."""
        if seconds is None or pd.isna(seconds):
            return None
        return pd.Timestamp(int(seconds), unit="s", tz="UTC").tz_convert(self.tz).date()

    def _by_periods(self, frame: pd.DataFrame, date_column: str) -> pd.DataFrame:
        """`frame` repeated once per grain with its period_grain and period_start."""
        parts = []
        for grain in GRAINS:
            part = frame.copy()
            part["period_grain"] = grain
            part["period_start"] = [period_start(d, grain) for d in part[date_column]]
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    # --- the lead-level basis ------------------------------------------------------------------

    @cached_property
    def stages(self) -> pd.DataFrame:
        """Path stages (see kpi_pipeline.path_stages)."""
        return path_stages(self.truth.statuses, self.history)

    @cached_property
    def history(self) -> pd.DataFrame:
        """truth.status_history in stay order, with each stay's number and whether it is the current one."""
        history = self.truth.status_history.copy().reset_index(drop=True)
        history["order"] = np.arange(len(history))
        history = history.sort_values(["lead_id", "entered_at", "order"])
        history["stay_number"] = history.groupby("lead_id").cumcount() + 1
        history["is_current"] = history["left_at"].isna()
        return history

    @cached_property
    def lost_at(self) -> pd.DataFrame:
        """Per currently lost lead: the last status neither won nor lost before its final move to 143."""
        history = self.history
        current = history[history["is_current"] & (history["status_id"] == LOST)][["lead_id", "stay_number"]]
        before = history.merge(current, on="lead_id", suffixes=("", "_lost"))
        before = before[(before["stay_number"] < before["stay_number_lost"]) & ~before["status_id"].isin([WON, LOST])]
        last = before.sort_values("stay_number").groupby("lead_id").tail(1)
        return last.rename(columns={"pipeline_id": "lost_at_pipeline_id", "status_id": "lost_at_status_id"})[
            ["lead_id", "lost_at_pipeline_id", "lost_at_status_id"]
        ]

    @cached_property
    def first_won(self) -> pd.DataFrame:
        """Each customer's first won deal: the lead, its month and channel."""
        first = self.leads[self.leads["is_first_won_of_customer"]]
        first = first.assign(month=[d.replace(day=1) for d in first["closed_date"]])
        return first[["customer_type", "customer_id", "lead_id", "month", "channel"]]

    @cached_property
    def leads(self) -> pd.DataFrame:
        """fct_leads: every lead (deleted ones flagged) with the contract's derived columns."""
        truth = self.truth
        leads = truth.leads.copy()
        users = truth.users[["id", "group_id"]].rename(columns={"id": "responsible_user_id"})
        leads = leads.merge(users, on="responsible_user_id", how="left", suffixes=("_lead", ""))
        leads["is_won"] = leads["status_id"] == WON
        leads["is_lost"] = leads["status_id"] == LOST
        closed = leads["is_won"] | leads["is_lost"]
        leads["price"] = leads["price"].fillna(0).astype("int64")
        leads["closed_at"] = leads["closed_at"].where(closed)
        leads["created_date"] = [self.local_date(t) for t in leads["created_at"]]
        leads["closed_date"] = [self.local_date(t) for t in leads["closed_at"]]
        utm = leads["utm_source"].where(leads["utm_source"].notna(), None)
        utm = [u.strip() if isinstance(u, str) and u.strip() else None for u in utm]
        source = [None if pd.isna(s) or s == 0 else str(int(s)) for s in leads["source_id"]]
        leads["channel"] = [(u or s or "unknown").lower() for u, s in zip(utm, source)]
        leads["source_name"] = [self.source_names.get(s) for s in source]
        reasons = dict(zip(truth.loss_reasons["id"], truth.loss_reasons["name"]))
        leads["loss_reason"] = [
            (reasons.get(r, "not specified") if not pd.isna(r) else "not specified") if lost else None
            for r, lost in zip(leads["loss_reason_id"], leads["is_lost"])
        ]
        leads["loss_reason_id"] = leads["loss_reason_id"].where(leads["is_lost"])
        leads = leads.merge(self.lost_at, left_on="id", right_on="lead_id", how="left").drop(columns="lead_id")
        leads["sales_cycle_days"] = ((leads["closed_at"] - leads["created_at"]) / 86_400).where(leads["is_won"])
        company = leads["company_id"].where(leads["company_id"].fillna(0) != 0)
        # the customer contact: the main one, else (its main contact deleted) the lowest-id contact still linked
        links = truth.lead_contacts.sort_values(["lead_id", "is_main", "contact_id"], ascending=[True, False, True])
        customer_contact = links.groupby("lead_id")["contact_id"].first()
        contact = leads["id"].map(customer_contact).astype("Int64")
        leads["customer_type"] = np.where(company.notna(), "company", np.where(contact.notna(), "contact", None))
        leads["customer_id"] = company.fillna(contact)
        leads = leads.rename(columns={"id": "lead_id", "responsible_user_id": "manager_id"})
        # a customer's first won deal: earliest close, ties by lead id, among live won leads
        won = leads[~leads["is_deleted"].astype(bool) & leads["is_won"] & leads["closed_at"].notna()
                    & leads["customer_id"].notna()]
        first = won.sort_values(["closed_at", "lead_id"]).groupby(["customer_type", "customer_id"]).head(1)
        leads["is_first_won_of_customer"] = leads["lead_id"].isin(first["lead_id"])
        return leads

    # --- published tables ----------------------------------------------------------------------

    def response(self) -> pd.DataFrame:
        """fct_response (tests/kpi_response.py)."""
        import kpi_response

        return kpi_response.response(self, self.response_sla_minutes)

    def sales_kpi(self) -> pd.DataFrame:
        leads = self.leads[~self.leads["is_deleted"]]
        created = leads.assign(day=leads["created_date"], leads_created=1, cohort_won=leads["is_won"].astype(int),
                               deals_won=0, deals_lost=0, revenue_won=0, cycle=np.nan)
        closed = leads[(leads["is_won"] | leads["is_lost"]) & leads["closed_date"].notna()]
        closed = closed.assign(day=closed["closed_date"], leads_created=0, cohort_won=0,
                               deals_won=closed["is_won"].astype(int), deals_lost=closed["is_lost"].astype(int),
                               revenue_won=closed["price"].where(closed["is_won"], 0),
                               cycle=closed["sales_cycle_days"])
        facts = self._by_periods(pd.concat([created, closed], ignore_index=True), "day")
        rows = []
        for key, group in facts.groupby(["period_grain", "period_start", "pipeline_id", "manager_id"], dropna=False):
            won, lost, created_n = int(group["deals_won"].sum()), int(group["deals_lost"].sum()), int(group["leads_created"].sum())
            revenue, cohort_won = int(group["revenue_won"].sum()), int(group["cohort_won"].sum())
            cycle = group["cycle"].dropna()
            rows.append(dict(
                zip(["period_grain", "period_start", "pipeline_id", "manager_id"], key),
                leads_created=created_n, deals_won=won, revenue_won=revenue,
                avg_deal_value=money_ratio(revenue, won), deals_lost=lost, win_rate=ratio(won, won + lost),
                cohort_leads=created_n, cohort_won=cohort_won, cohort_conversion=ratio(cohort_won, created_n),
                sales_cycle_days_sum=float(cycle.sum()), sales_cycle_days_mean=ratio(cycle.sum(), won),
                sales_cycle_days_median=_percentile(cycle, 0.5), sales_cycle_days_p90=_percentile(cycle, 0.9),
            ))
        return pd.DataFrame(rows)

    def lost_deals(self) -> pd.DataFrame:
        leads = self.leads
        lost = leads[~leads["is_deleted"] & leads["is_lost"] & leads["closed_date"].notna()]
        facts = self._by_periods(lost, "closed_date")
        key = ["period_grain", "period_start", "pipeline_id", "manager_id", "loss_reason_id", "loss_reason",
               "lost_at_pipeline_id", "lost_at_status_id"]
        out = facts.groupby(key, dropna=False).agg(deals_lost=("lead_id", "size"), value_lost=("price", "sum"))
        return out.reset_index()

    @cached_property
    def activities(self) -> pd.DataFrame:
        """One row per counted activity: day, manager and which measures it adds to."""
        truth = self.truth
        owners = {}
        deleted = set()
        for entity, frame in (("lead", truth.leads), ("contact", truth.contacts), ("company", truth.companies)):
            owners.update({(entity, i): u for i, u in zip(frame["id"], frame["responsible_user_id"])})
            deleted.update((entity, i) for i in frame.loc[frame["is_deleted"].astype(bool), "id"])
        rows = []

        def add(entity_type, entity_id, user, seconds, **measures):
            # who performed it; when the record names nobody, the current owner of its entity
            manager = user if user is not None and not pd.isna(user) and user != 0 \
                else owners.get((entity_type, entity_id))
            if (entity_type, entity_id) in deleted or manager is None or pd.isna(manager):
                return
            rows.append(dict(day=self.local_date(seconds), manager_id=int(manager), **measures))

        for note in truth.notes.itertuples():
            if note.is_deleted:
                continue
            params = note.params or {}
            author = note.created_by if note.created_by else note.responsible_user_id
            if note.note_type in ("call_in", "call_out"):
                duration = params.get("duration") or 0
                add(note.entity_type, note.entity_id, author, note.created_at,
                    calls_outgoing=int(note.note_type == "call_out"), calls_incoming=int(note.note_type == "call_in"),
                    calls_connected=int(duration > 0), call_seconds=int(duration))
            elif note.note_type == "amomail_message" and params.get("income") is False:
                add(note.entity_type, note.entity_id, author, note.created_at, messages_sent=1)
        for event in truth.events[truth.events["type"] == "outgoing_chat_message"].itertuples():
            if not event.created_by:
                continue  # a robot's message is no manager's (messages_sent is by author)
            # the talk's lead, whatever entity amoCRM serves a deleted lead's messages on
            on_lead = not pd.isna(event.talk_lead_id)
            add("lead" if on_lead else event.entity_type, event.talk_lead_id if on_lead else event.entity_id,
                event.created_by, event.created_at, messages_sent=1)
        codes = dict(zip(truth.task_types["id"], truth.task_types["code"]))
        for task in truth.tasks.itertuples():
            if task.is_deleted or pd.isna(task.complete_till):
                continue
            completed = bool(task.is_completed)
            add(ENTITY.get(task.entity_type, task.entity_type), task.entity_id, task.responsible_user_id,
                task.complete_till,
                tasks_completed=int(completed),
                meetings_held=int(completed and codes.get(task.task_type_id) == self.meeting_code),
                tasks_overdue=int(not completed and task.complete_till < self.extracted_at))
        measures = ["calls_outgoing", "calls_incoming", "calls_connected", "call_seconds", "meetings_held",
                    "tasks_completed", "tasks_overdue", "messages_sent"]
        return pd.DataFrame(rows, columns=["day", "manager_id", *measures]).fillna(0)

    def manager_activity(self) -> pd.DataFrame:
        activities = self._by_periods(self.activities, "day")
        measures = [c for c in self.activities.columns if c not in ("day", "manager_id")]
        out = activities.groupby(["period_grain", "period_start", "manager_id"])[measures].sum().astype("int64")
        out = out[out[["calls_outgoing", "calls_incoming", "meetings_held", "tasks_completed", "tasks_overdue",
                       "messages_sent"]].sum(axis=1) > 0]
        return out.reset_index()

    def funnel(self) -> pd.DataFrame:
        leads = self.leads[~self.leads["is_deleted"]]
        cohort = {i: d.replace(day=1) for i, d in zip(leads["lead_id"], leads["created_date"])}
        history = self.history[self.history["lead_id"].isin(cohort)].copy()
        history["cohort_month"] = history["lead_id"].map(cohort)
        stages = self.stages
        on_path = history.merge(stages, on=["pipeline_id", "status_id"])
        furthest = on_path.groupby(["lead_id", "cohort_month", "pipeline_id"])["stage_order"].max().reset_index()
        lost = self.lost_at.merge(leads[["lead_id"]], on="lead_id")
        lost["cohort_month"] = lost["lead_id"].map(cohort)
        rows = []
        for (month, pipeline), group in furthest.groupby(["cohort_month", "pipeline_id"]):
            path = stages[stages["pipeline_id"] == pipeline].sort_values("stage_order")
            reached = {s: int((group["stage_order"] >= s).sum()) for s in path["stage_order"]}
            for stage in path.itertuples():
                here = history[(history["cohort_month"] == month) & (history["pipeline_id"] == pipeline)
                               & (history["status_id"] == stage.status_id)]
                done = here[~here["is_current"]]
                hours = (done["left_at"] - done["entered_at"]) / 3600
                sitting = here[here["is_current"]] if stage.status_id not in (WON, LOST) else here.iloc[0:0]
                age = (self.extracted_at - sitting["entered_at"]) / 3600
                nxt = None if stage.is_last else reached[stage.stage_order + 1]
                rows.append(dict(
                    cohort_month=month, pipeline_id=pipeline, status_id=stage.status_id,
                    stage_order=int(stage.stage_order), reached=reached[stage.stage_order], reached_next=nxt,
                    stage_conversion=None if nxt is None else ratio(nxt, reached[stage.stage_order]),
                    lost_here=int(((lost["cohort_month"] == month) & (lost["lost_at_pipeline_id"] == pipeline)
                                   & (lost["lost_at_status_id"] == stage.status_id)).sum()),
                    open_here=len(sitting),
                    open_here_age_hours_median=_percentile(age, 0.5),
                    open_here_age_hours_max=None if sitting.empty else float(age.max()),
                    completed_stays=len(done),
                    hours_in_stage_median=_percentile(hours, 0.5), hours_in_stage_p90=_percentile(hours, 0.9),
                ))
        return pd.DataFrame(rows)

    @cached_property
    def source_names(self) -> dict[str, str]:
        """amoCRM source id (as text) -> its name, as the leads of the truth carry them."""
        leads = self.truth.leads.dropna(subset=["source_id", "source_name"])
        return {str(int(i)): n for i, n in zip(leads["source_id"], leads["source_name"])}

    def spend_channel(self, written: str) -> str:
        """The channel a spend row is for: a source's name (any case) stands for its id, else as written.
        A UTM value some lead carries, or a name two sources share, stays as written."""
        channel = written.strip().lower()
        ids = {i for i, name in self.source_names.items() if name.strip().lower() == channel}
        utm = {u.strip().lower() for u in self.truth.leads["utm_source"].dropna() if u.strip()}
        return ids.pop() if len(ids) == 1 and channel not in utm else channel

    def cac(self) -> pd.DataFrame:
        spend: dict[tuple, Decimal] = {}
        for row in self.spend:
            key = (row["month"], self.spend_channel(row["channel"]))
            spend[key] = spend.get(key, Decimal("0")) + Decimal(row["amount"])
        customers = self.first_won.groupby(["month", "channel"]).size().to_dict()
        rows = []
        for month, channel in sorted(set(spend) | set(customers)):
            amount = spend.get((month, channel))  # None: no spend supplied, unknown (not zero)
            count = int(customers.get((month, channel), 0))
            rows.append(dict(month=month, channel=channel, source_name=self.source_names.get(channel),
                             marketing_spend=None if amount is None else amount.quantize(Decimal("0.01")),
                             new_customers=count, cac=None if amount is None else money_ratio(amount, count)))
        return pd.DataFrame(rows)

    def satisfaction(self) -> pd.DataFrame:
        """NPS ratings of a lead or a contact count for its current responsible user (not when it is
        deleted); ratings of amoCRM customers (not extracted) count for no manager (manager_id null)."""
        leads = self.leads.set_index("lead_id")
        contacts = self.truth.contacts.set_index("id")
        owner = {("lead", i): m for i, m in leads.loc[~leads["is_deleted"], "manager_id"].items()}
        owner.update({("contact", i): m for i, m in
                      contacts.loc[~contacts["is_deleted"].astype(bool), "responsible_user_id"].items()})
        responses = []
        nps = self.truth.events[self.truth.events["type"] == "nps_rate_added"]
        for event in nps.itertuples():
            rate = next((v["nps"]["rate"] for v in event.value_after if "nps" in v), None)
            key = (event.entity_type, event.entity_id)
            if rate is not None and (key in owner or event.entity_type == "customer"):
                responses.append((owner.get(key), event.created_at, Decimal(rate)))
        scored = leads[leads["satisfaction"].notna() & (leads["is_won"] | leads["is_lost"]) & leads["closed_at"].notna()]
        for lead_id, row in scored.iterrows():
            if ("lead", lead_id) in owner:
                responses.append((row["manager_id"], row["closed_at"], Decimal(str(row["satisfaction"]))))
        frame = pd.DataFrame(
            [dict(day=self.local_date(at), manager_id=manager, score=score)
             for manager, at, score in responses if 0 <= score <= 10]
        )
        rows = []
        for key, group in self._by_periods(frame, "day").groupby(["period_grain", "period_start", "manager_id"],
                                                                 dropna=False):
            scores = list(group["score"])
            promoters = sum(s >= 9 for s in scores)
            detractors = sum(s <= 6 for s in scores)
            total = sum(scores, Decimal("0"))
            rows.append(dict(zip(["period_grain", "period_start", "manager_id"], key),
                             responses=len(scores), promoters=promoters, detractors=detractors,
                             score_sum=total.quantize(Decimal("0.01")), csat=float(total) / len(scores),
                             nps=100.0 * (promoters - detractors) / len(scores)))
        return pd.DataFrame(rows)

    def plan_vs_fact(self) -> pd.DataFrame:
        users = self.truth.users
        by_name = dict(zip(users["name"], users["id"]))
        ids = set(users["id"])
        targets = {}
        for row in self.targets:
            manager = str(row["manager"]).strip()
            manager_id = int(manager) if manager.isdigit() and int(manager) in ids else by_name[manager]
            targets[(row["month"], manager_id)] = row
        leads = self.leads
        won = leads[~leads["is_deleted"] & leads["is_won"] & leads["closed_date"].notna()]
        won = won.assign(month=[d.replace(day=1) for d in won["closed_date"]])
        facts = won.groupby(["month", "manager_id"]).agg(deals_won=("lead_id", "size"), revenue_won=("price", "sum"))
        facts = facts.to_dict("index")
        rows = []
        for month, manager_id in sorted(set(targets) | set(facts)):
            target = targets.get((month, manager_id), {})
            fact = facts.get((month, manager_id), {"deals_won": 0, "revenue_won": 0})
            revenue, deals = int(fact["revenue_won"]), int(fact["deals_won"])
            target_revenue, target_deals = target.get("target_revenue"), target.get("target_deals")
            rows.append(dict(month=month, manager_id=manager_id, target_revenue=target_revenue, revenue_won=revenue,
                             target_deals=target_deals, deals_won=deals,
                             revenue_attainment=ratio(revenue, float(target_revenue or 0)),
                             deals_attainment=ratio(deals, target_deals or 0)))
        return pd.DataFrame(rows)

    def forecast(self) -> pd.DataFrame:
        """See kpi_pipeline.forecast."""
        return forecast(self)

    def pipeline_daily(self) -> pd.DataFrame:
        """See kpi_hygiene.pipeline_daily."""
        return pipeline_daily(self)

    def crm_hygiene(self, required: tuple[str, ...] = ()) -> pd.DataFrame:
        """See kpi_hygiene.crm_hygiene."""
        return crm_hygiene(self, required)

    def sales_by_dimension(self, fields: tuple[str, ...] = ("city", "product")) -> pd.DataFrame:
        """See kpi_hygiene.sales_by_dimension."""
        return sales_by_dimension(self, fields)
