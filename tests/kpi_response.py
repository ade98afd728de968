"""fct_response computed independently in pandas from the simulator's truth (kpi_reference.KpiReference
delegates here to keep that module small).

The decisions, as in dbt_project/models/marts/_marts__response.yml: an outgoing touch is a call_out
note, an amomail_message note with income = false (both by a user: created_by > 0, not deleted) or an
outgoing chat message by a user on a lead's talk; a touch on a live contact counts for every live lead
linked to it created at or before the touch and not closed before it; "elapsed" is measured against
the extraction time.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

DAY = 86_400


def touches(reference: Any) -> pd.DataFrame:
    """One row per (touch, lead it counts for): columns touch, lead_id, at."""
    truth = reference.truth
    leads = reference.leads[~reference.leads["is_deleted"].astype(bool)]
    live = set(leads["lead_id"])
    created = dict(zip(leads["lead_id"], leads["created_at"]))
    closed = dict(zip(leads["lead_id"], leads["closed_at"]))
    dead_contacts = set(truth.contacts.loc[truth.contacts["is_deleted"].astype(bool), "id"])
    linked: dict[int, list[int]] = {}
    for link in truth.lead_contacts.itertuples():
        if link.lead_id in live:
            linked.setdefault(int(link.contact_id), []).append(int(link.lead_id))
    rows = []
    for note in truth.notes.itertuples():
        params = note.params or {}
        outgoing = note.note_type == "call_out" or (
            note.note_type == "amomail_message" and params.get("income") is False)
        if note.is_deleted or not outgoing or not note.created_by:
            continue
        if note.entity_type == "lead" and note.entity_id in live:
            rows.append((f"note:{note.id}", int(note.entity_id), note.created_at))
        elif note.entity_type == "contact" and note.entity_id not in dead_contacts:
            for lead in linked.get(int(note.entity_id), []):
                still_open = pd.isna(closed[lead]) or note.created_at <= closed[lead]
                if created[lead] <= note.created_at and still_open:
                    rows.append((f"note:{note.id}", lead, note.created_at))
    events = truth.events
    chats = events[(events["type"] == "outgoing_chat_message") & (events["created_by"] > 0)
                   & events["talk_lead_id"].notna()]
    for event in chats.itertuples():
        if event.talk_lead_id in live:  # a robot's message is no response
            rows.append((f"event:{event.id}", int(event.talk_lead_id), event.created_at))
    return pd.DataFrame(rows, columns=["touch", "lead_id", "at"])


def first_responses(reference: Any, sla_minutes: int) -> pd.DataFrame:
    """Per live lead: first_response_minutes, within SLA, elapsed flags, touches_24h / 14d."""
    leads = reference.leads[~reference.leads["is_deleted"].astype(bool)]
    leads = leads[["lead_id", "pipeline_id", "manager_id", "created_at", "created_date"]].copy()
    found = touches(reference).merge(leads[["lead_id", "created_at"]], on="lead_id")
    found = found[found["at"] >= found["created_at"]]
    after = found["at"] - found["created_at"]
    per_lead = found.assign(t24=after < DAY, t14=after < 14 * DAY).groupby("lead_id").agg(
        first_at=("at", "min"), touches_24h=("t24", "sum"), touches_14d=("t14", "sum"))
    leads = leads.merge(per_lead, on="lead_id", how="left")
    leads[["touches_24h", "touches_14d"]] = leads[["touches_24h", "touches_14d"]].fillna(0).astype("int64")
    leads["minutes"] = (leads["first_at"] - leads["created_at"]) / 60
    leads["responded"] = leads["first_at"].notna()
    leads["within"] = leads["minutes"] <= sla_minutes
    now = reference.extracted_at
    leads["sla_elapsed"] = leads["responded"] | (leads["created_at"] + sla_minutes * 60 <= now)
    leads["silent_14d"] = (leads["created_at"] + 14 * DAY <= now) & (leads["touches_14d"] == 0)
    return leads


def response(reference: Any, sla_minutes: int = 15) -> pd.DataFrame:
    """fct_response: per period of creation, pipeline and manager."""
    from kpi_reference import _percentile, ratio

    leads = reference._by_periods(first_responses(reference, sla_minutes), "created_date")
    rows = []
    for key, group in leads.groupby(["period_grain", "period_start", "pipeline_id", "manager_id"]):
        within, elapsed = int(group["within"].sum()), int(group["sla_elapsed"].sum())
        rows.append(dict(
            zip(["period_grain", "period_start", "pipeline_id", "manager_id"], key),
            leads_created=len(group), leads_responded=int(group["responded"].sum()),
            responded_within_sla=within, leads_sla_elapsed=elapsed,
            responded_within_sla_share=ratio(within, elapsed),
            first_response_minutes_median=_percentile(group["minutes"], 0.5),
            first_response_minutes_p90=_percentile(group["minutes"], 0.9),
            touches_24h=int(group["touches_24h"].sum()), touches_14d=int(group["touches_14d"].sum()),
            leads_without_touch_14d=int(group["silent_14d"].sum()),
        ))
    return pd.DataFrame(rows)
