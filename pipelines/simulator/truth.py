"""Ground truth: the account as the API would show it at T, as pandas DataFrames.

Built from the timeline and the state at T (not from HTTP), so tests can compute
the KPIs of ../shared/kpi-contract.md independently of the extractor and SQL.
Frames are built on first access; nullable ids use pandas' `Int64`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd

from . import chats
from . import events as ev
from . import lead_fields
from . import reference as ref
from . import shapes
from .generator import COMPANY, CONTACT, LEAD, Timeline
from .people import company_name, contact_names
from .render import ENTITY_PATH, SOURCE_NAME, Renderer
from .state import State, group_of


def _nullable(values: np.ndarray, missing: int = -1) -> pd.array:
    values = np.asarray(values, dtype=np.int64)
    return pd.arrays.IntegerArray(values, values == missing)


class Truth:
    """Frames listed in docs/design.md §2; `at` is the moment they describe."""

    def __init__(self, tl: Timeline, st: State, events: Callable[[], ev.EventIndex], live: bool = False):
        """`live`: the account serves the live shapes (shapes.py); frames hold values as it serves them."""
        self._tl, self._st, self._events, self._live = tl, st, events, live
        self.at = st.at

    @cached_property
    def account(self) -> dict:
        pr = self._tl.profile
        return {"id": pr.account_id, "name": pr.name, "subdomain": pr.subdomain, "currency": pr.currency,
                "currency_symbol": pr.currency_symbol, "timezone": pr.timezone, "language": pr.language}

    @cached_property
    def users(self) -> pd.DataFrame:
        """`group_id` is the user's real group: 0 for the default group, even where the API sends null."""
        return pd.DataFrame([{"id": u.id, "name": u.name, "email": u.email, "lang": "ru", "group_id": u.group_id,
                              "is_active": u.is_active, "is_admin": u.is_admin} for u in ref.USERS])

    @cached_property
    def groups(self) -> pd.DataFrame:
        return pd.DataFrame({"id": list(ref.GROUPS), "name": list(ref.GROUPS.values())})

    @cached_property
    def task_types(self) -> pd.DataFrame:
        return pd.DataFrame(ref.TASK_TYPES, columns=["id", "name", "code"])

    @cached_property
    def pipelines(self) -> pd.DataFrame:
        return pd.DataFrame([{"id": p.id, "name": p.name, "sort": p.sort, "is_main": p.is_main, "is_archive": False}
                             for p in ref.PIPELINES])

    @cached_property
    def statuses(self) -> pd.DataFrame:
        """The statuses the API lists at `at`: a deleted status is gone (the status history still names it)."""
        deleted = {(pid, sid) for pid, sid, deleted_at in self._tl.deleted_statuses if deleted_at <= self.at}
        rows = []
        for p in ref.PIPELINES:
            won_name, lost_name = shapes.closed_status_names(p.id, self._live)
            rows.append((p.id, p.status_id(0), ref.INCOMING_NAME, 10, 1))
            rows += [(p.id, p.status_id(j + 1), name, 20 + 10 * j, 0) for j, name in enumerate(p.stages)]
            rows += [(p.id, ref.WON, won_name, 10000, 0), (p.id, ref.LOST, lost_name, 11000, 0)]
        rows = [r for r in rows if (r[0], r[1]) not in deleted]
        df = pd.DataFrame(rows, columns=["pipeline_id", "id", "name", "sort", "type"])
        df["is_won"], df["is_lost"] = df["id"] == ref.WON, df["id"] == ref.LOST
        return df

    @cached_property
    def loss_reasons(self) -> pd.DataFrame:
        return pd.DataFrame([(rid, name, (i + 1) * 100) for i, (rid, name) in enumerate(ref.LOSS_REASONS)],
                            columns=["id", "name", "sort"])

    @cached_property
    def custom_fields(self) -> pd.DataFrame:
        return pd.DataFrame([{"entity_type": f.entity_type, "id": f.id, "name": f.name, "code": f.code,
                              "type": f.type, "enums": [{"id": i, "value": v, "code": c} for i, v, c in f.enums]}
                             for f in ref.FIELDS])

    @cached_property
    def leads(self) -> pd.DataFrame:
        s, lc = self._st.leads, self._tl.leads
        n = len(s["status"])
        ids = ref.LEAD_ID_BASE + np.arange(n)
        links = self._st.lead_contacts
        main = np.full(n, -1, dtype=np.int64)
        main[links["lead"][links["is_main"]]] = links["contact"][links["is_main"]]
        company = lc["company"][:n]
        company_live = self._company_live(company)
        utm = lc["utm"][:n]
        return pd.DataFrame({
            "id": ids,
            "name": [f"{ref.LEAD_PRODUCTS[p]} #{i}" for p, i in zip(lc["product"][:n], ids)],
            "price": s["price"], "pipeline_id": s["pipeline"], "status_id": s["status"],
            "responsible_user_id": s["responsible"], "group_id": s["group"], "created_by": s["created_by"],
            "updated_by": s["updated_by"], "created_at": s["created_at"], "updated_at": s["updated_at"],
            "closed_at": _nullable(s["closed_at"]), "loss_reason_id": _nullable(s["loss_reason"]),
            "source_id": _nullable(lc["source"][:n]),
            "source_name": pd.array([SOURCE_NAME.get(int(x)) for x in lc["source"][:n]], dtype="object"),
            "company_id": _nullable(np.where(company_live, ref.COMPANY_ID_BASE + company, -1)),
            "main_contact_id": _nullable(np.where(main >= 0, ref.CONTACT_ID_BASE + main, -1)),
            "utm_source": pd.array([ref.UTM_VALUES[u] if u >= 0 else None for u in utm], dtype="object"),
            "satisfaction": _nullable(s["satisfaction"]),
            "is_deleted": s["is_deleted"], "deleted_at": _nullable(s["deleted_at"]),
        })

    @cached_property
    def lead_tags(self) -> pd.DataFrame:
        """One row per tag of a lead (a lead may have two): lead_id, tag_id, tag_name."""
        rows = [(ref.LEAD_ID_BASE + i, *ref.TAGS[t]) for i in range(len(self._st.leads["status"]))
                for t in lead_fields.tags(self._tl.leads, i)]
        return pd.DataFrame(rows, columns=["lead_id", "tag_id", "tag_name"])

    @cached_property
    def lead_field_values(self) -> pd.DataFrame:
        """One row per value of the city and product fields (product is a multi-select): lead_id,
        field_id, field_name, field_code, value."""
        rows = [(ref.LEAD_ID_BASE + i, f.id, f.name, f.code, f.enums[k][1])
                for i in range(len(self._st.leads["status"]))
                for f, chosen in lead_fields.field_values(self._tl.leads, i) for k in chosen]
        return pd.DataFrame(rows, columns=["lead_id", "field_id", "field_name", "field_code", "value"])

    def _company_live(self, company: np.ndarray) -> np.ndarray:
        """Which company references the API shows: the company exists at T and is not deleted."""
        deleted = self._st.companies["is_deleted"]
        live = (company >= 0) & (company < len(deleted))
        live[live] = ~deleted[company[live]]
        return live

    @cached_property
    def lead_contacts(self) -> pd.DataFrame:
        links = self._st.lead_contacts
        return pd.DataFrame({"lead_id": ref.LEAD_ID_BASE + links["lead"],
                             "contact_id": ref.CONTACT_ID_BASE + links["contact"], "is_main": links["is_main"]})

    @cached_property
    def status_history(self) -> pd.DataFrame:
        log = self._tl.status_log
        rows = np.flatnonzero((log.time <= self.at) & (log.entity < len(self._st.leads["status"])))
        lead = log.entity[rows]
        nxt = rows + 1
        has_next = np.r_[lead[1:] == lead[:-1], False]
        left = np.where(has_next, log.time[np.minimum(nxt, len(log) - 1)], -1)
        return pd.DataFrame({"lead_id": ref.LEAD_ID_BASE + lead, "pipeline_id": log["pipeline"][rows],
                             "status_id": log["status"][rows], "entered_at": log.time[rows],
                             "left_at": _nullable(left), "changed_by": log["by"][rows]})

    @cached_property
    def contacts(self) -> pd.DataFrame:
        s, c = self._st.contacts, self._tl.contacts
        n = len(s["is_deleted"])
        names = [" ".join(contact_names(bool(f), int(a), int(b))[:2])
                 for f, a, b in zip(c["female"][:n], c["first"][:n], c["last"][:n])]
        resp = self._tl.leads["resp0"][c["lead"][:n]]
        company = c["company"][:n]
        return pd.DataFrame({
            "id": ref.CONTACT_ID_BASE + np.arange(n), "name": names, "responsible_user_id": resp,
            "group_id": group_of(resp), "created_at": s["created_at"], "updated_at": s["updated_at"],
            "company_id": _nullable(np.where(self._company_live(company), ref.COMPANY_ID_BASE + company, -1)),
            "is_deleted": s["is_deleted"], "deleted_at": _nullable(s["deleted_at"]),
        })

    @cached_property
    def companies(self) -> pd.DataFrame:
        s, co = self._st.companies, self._tl.companies
        n = len(s["is_deleted"])
        names = [company_name(int(f), int(w), int(k))[0]
                 for f, w, k in zip(co["form"][:n], co["word"][:n], co["number"][:n])]
        resp = self._tl.leads["resp0"][co["lead"][:n]]
        return pd.DataFrame({
            "id": ref.COMPANY_ID_BASE + np.arange(n), "name": names, "responsible_user_id": resp,
            "group_id": group_of(resp), "created_at": s["created_at"], "updated_at": s["updated_at"],
            "is_deleted": s["is_deleted"], "deleted_at": _nullable(s["deleted_at"]),
        })

    @cached_property
    def events(self) -> pd.DataFrame:
        e = self._events()
        n = e.count_at(self.at)
        pairs = [ev.values(self._tl, int(src), int(row), self._live) for src, row in zip(e.src[:n], e.row[:n])]
        kind, entity_id = e.entity_kind[:n].copy(), e.entity_id[:n].astype(np.int64)
        chat = np.flatnonzero(e.src[:n] == ev.S_CHAT)
        kind[chat], entity_id[chat] = chats.served(self._tl.chats, self._st.leads["is_deleted"], e.row[chat])
        ch = self._tl.chats
        talk_lead = np.full(n, -1, dtype=np.int64)  # ground truth: the lead a chat message's talk is on
        on_lead = chat[ch["kind"][e.row[chat]] == LEAD]
        talk_lead[on_lead] = ref.LEAD_ID_BASE + ch["lead"][e.row[on_lead]]
        return pd.DataFrame({
            "id": [e.id(i) for i in range(n)], "type": [ev.TYPES[t] for t in e.type[:n]],
            "entity_type": [ev.ENTITY_KINDS[k] for k in kind], "entity_id": entity_id,
            "created_by": e.created_by[:n], "created_at": e.created_at[:n],
            "value_before": [p[0] for p in pairs], "value_after": [p[1] for p in pairs],
            "talk_lead_id": _nullable(talk_lead),
        })

    @cached_property
    def notes(self) -> pd.DataFrame:
        nt = self._tl.notes
        n = self._st.n_notes
        base = {LEAD: ref.LEAD_ID_BASE, CONTACT: ref.CONTACT_ID_BASE, COMPANY: ref.COMPANY_ID_BASE}
        kinds = nt["kind"][:n]
        renderer = Renderer(self._tl, self._st, self._events, "", self._live)
        return pd.DataFrame({
            "id": ref.NOTE_ID_BASE + np.arange(n),
            "entity_type": [("lead", "contact", "company")[k] for k in kinds],
            "entity_id": np.select([kinds == k for k in base], list(base.values())) + nt["entity"][:n],
            "note_type": [renderer.note_type(i) for i in range(n)], "created_by": nt["created_by"][:n],
            "responsible_user_id": nt["responsible"][:n], "created_at": nt["created"][:n],
            "updated_at": nt["created"][:n], "params": [renderer.note_params(i) for i in range(n)],
            "is_deleted": nt["deleted_at"][:n] <= self.at,
        })

    @cached_property
    def tasks(self) -> pd.DataFrame:
        t, s = self._tl.tasks, self._st.tasks
        n = len(s["is_completed"])
        kinds = t["kind"][:n]
        done = s["is_completed"]
        return pd.DataFrame({
            "id": ref.TASK_ID_BASE + np.arange(n), "entity_type": [ENTITY_PATH[k] for k in kinds],
            "entity_id": np.where(kinds == LEAD, ref.LEAD_ID_BASE, ref.CONTACT_ID_BASE) + t["entity"][:n],
            "task_type_id": t["type"][:n], "responsible_user_id": t["responsible"][:n],
            "created_by": t["created_by"][:n], "created_at": t["created"][:n], "updated_at": s["updated_at"],
            "complete_till": t["complete_till"][:n], "is_completed": done,
            "result_text": [ref.TASK_RESULTS[int(k)] if d else None for k, d in zip(t["type"][:n], done)],
            "is_deleted": s["is_deleted"],
        })
