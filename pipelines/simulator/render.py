"""JSON shapes of amoCRM API v4 items, rendered from the state at T.

One function per entity, each taking a row index; the API module decides which
rows. Shapes follow ../shared/amocrm-api.md: `custom_fields_values` is null when
empty, `source_id` only with `with=source_id`, `_embedded.source` {id, name} only
with `with=source` (and a source), `_embedded.contacts` only with `with=contacts`,
task `result` is `[]` or an object, entity types are plural on tasks and singular
on events. `live` (the account's shapes, see shapes.py) picks the shapes captured
from live accounts where they differ from the documented ones.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable

import numpy as np

from . import chats
from . import events as ev
from . import lead_fields, shapes
from . import reference as ref
from .generator import CALL_IN, CALL_OUT, COMMON, COMPANY, CONTACT, LEAD, MAIL, NOTE_TYPES, USER_IDS, Timeline
from .people import company_name, company_phone, contact_email, contact_names, contact_phone
from .state import State, group_of

ENTITY_PATH = {LEAD: "leads", CONTACT: "contacts", COMPANY: "companies"}
EVENT_ENTITY_PATH = ("leads", "contacts", "companies", "tasks", "customers")  # by events.ENTITY_KINDS index
LOSS_REASON = {rid: (name, (i + 1) * 100) for i, (rid, name) in enumerate(ref.LOSS_REASONS)}
SOURCE_NAME = dict(ref.SOURCES)


def link(href: str) -> dict:
    return {"self": {"href": href}}


class Renderer:
    """Renders items of one account state; `base` is the server's base URL.

    `events` gives the event index on demand: building it is the costly part of a
    big account, and only event items need it.
    """

    def __init__(self, tl: Timeline, st: State, events: Callable[[], ev.EventIndex], base: str, live: bool = False):
        self.tl, self.st, self.events, self.base, self.live = tl, st, events, base, live

    def href(self, path: str) -> str:
        return f"{self.base}/api/v4/{path}"

    def _ref(self, path: str, entity_id: int, **extra) -> dict:
        return {"id": int(entity_id), **extra, "_links": link(self.href(f"{path}/{entity_id}"))}

    # -- leads -------------------------------------------------------------------------------

    def lead(self, i: int, with_: set[str]) -> dict:
        tl, s = self.tl, self.st.leads
        lead_id = ref.LEAD_ID_BASE + i
        reason = int(s["loss_reason"][i])
        item = {
            "id": lead_id,
            "name": f"{ref.LEAD_PRODUCTS[tl.leads['product'][i]]} #{lead_id}",
            "price": int(s["price"][i]),
            "responsible_user_id": int(s["responsible"][i]),
            "group_id": int(s["group"][i]),
            "status_id": int(s["status"][i]),
            "pipeline_id": int(s["pipeline"][i]),
            "loss_reason_id": reason if reason >= 0 else None,
        }
        if "source_id" in with_:
            source = int(tl.leads["source"][i])
            item["source_id"] = source if source >= 0 else None
        closed_at = int(s["closed_at"][i])
        item.update({
            "created_by": int(s["created_by"][i]), "updated_by": int(s["updated_by"][i]),
            "created_at": int(s["created_at"][i]), "updated_at": int(s["updated_at"][i]),
            "closed_at": closed_at if closed_at >= 0 else None, "closest_task_at": None, "is_deleted": False,
            "custom_fields_values": self._lead_fields(i), "score": None, "account_id": self.tl.profile.account_id,
            "labor_cost": None,
        })
        if "is_price_modified_by_robot" in with_:
            item["is_price_modified_by_robot"] = False
        company = int(tl.leads["company"][i])
        embedded: dict = {
            "tags": [shapes.tag(ref.TAGS[t][0], ref.TAGS[t][1], tl.seed, i, self.live)
                     for t in lead_fields.tags(tl.leads, i)],
            "companies": [self._ref("companies", ref.COMPANY_ID_BASE + company)]
            if 0 <= company < len(self.st.companies["is_deleted"]) and not self.st.companies["is_deleted"][company]
            else [],
        }
        if "contacts" in with_:
            lc = self.st.lead_contacts
            lo, hi = np.searchsorted(lc["lead"], [i, i + 1])
            embedded["contacts"] = [self._ref("contacts", ref.CONTACT_ID_BASE + int(c), is_main=bool(m))
                                    for c, m in zip(lc["contact"][lo:hi], lc["is_main"][lo:hi])]
        if "loss_reason" in with_ and reason >= 0:
            name, sort = LOSS_REASON[reason]
            embedded["loss_reason"] = [{"id": reason, "name": name, "sort": sort, "created_at": self.tl.start,
                                        "updated_at": self.tl.start,
                                        "_links": link(self.href(f"leads/loss_reasons/{reason}"))}]
        if "source" in with_ and tl.leads["source"][i] >= 0:
            source = int(tl.leads["source"][i])
            embedded["source"] = {"id": source, "name": SOURCE_NAME[source]}
        item["_links"] = link(self.href(f"leads/{lead_id}"))
        item["_embedded"] = embedded
        return item

    def _lead_fields(self, i: int) -> list | None:
        fields = []
        utm = int(self.tl.leads["utm"][i])
        if utm >= 0:
            fields.append(_field_value(ref.UTM_FIELD, [{"value": ref.UTM_VALUES[utm]}]))
        score = int(self.st.leads["satisfaction"][i])
        if score >= 0:
            fields.append(_field_value(ref.SATISFACTION_FIELD, [{"value": shapes.numeric_value(score, self.live)}]))
        for field, chosen in lead_fields.field_values(self.tl.leads, i):
            fields.append(_field_value(field, [{"value": field.enums[k][1], "enum_id": field.enums[k][0],
                                                "enum_code": field.enums[k][2]} for k in chosen]))
        return fields or None

    def deleted(self, path: str, base_id: int, cols: dict, i: int) -> dict:
        """The reduced model of the trash view (`with=only_deleted`)."""
        return {"id": base_id + i, "updated_at": int(cols["deleted_at"][i]), "updated_by": int(cols["deleted_by"][i]),
                "is_deleted": True, "account_id": self.tl.profile.account_id,
                "_links": link(self.href(f"{path}/{base_id + i}"))}

    # -- contacts and companies --------------------------------------------------------------

    @cached_property
    def _leads_by_contact(self) -> tuple[np.ndarray, np.ndarray]:
        lc = self.st.lead_contacts
        order = np.argsort(lc["contact"], kind="stable")
        return lc["contact"][order], lc["lead"][order]

    @cached_property
    def _by_company(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lead_co = self.tl.leads["company"][:len(self.st.leads["status"])]
        lo = np.argsort(lead_co, kind="stable")
        c_co = self.tl.contacts["company"][:len(self.st.contacts["is_deleted"])]
        co = np.argsort(c_co, kind="stable")
        return lead_co[lo], lo, c_co[co], co

    def _live_lead_refs(self, leads: np.ndarray) -> list[dict]:
        dead = self.st.leads["is_deleted"]
        return [self._ref("leads", ref.LEAD_ID_BASE + int(x)) for x in leads if not dead[x]]

    def contact(self, i: int, with_: set[str]) -> dict:
        tl, s = self.tl, self.st.contacts
        c = tl.contacts
        lead = int(c["lead"][i])
        first, last, first_latin, last_latin = contact_names(bool(c["female"][i]), int(c["first"][i]), int(c["last"][i]))
        resp = int(tl.leads["resp0"][lead])
        company = int(c["company"][i])
        item = {
            "id": ref.CONTACT_ID_BASE + i, "name": f"{first} {last}", "first_name": first, "last_name": last,
            "responsible_user_id": resp, "group_id": int(group_of(np.array([resp]))[0]),
            "created_by": int(tl.leads["created_by"][lead]), "updated_by": int(s["updated_by"][i]),
            "created_at": int(s["created_at"][i]), "updated_at": int(s["updated_at"][i]), "closest_task_at": None,
            "is_deleted": False,
            "custom_fields_values": shapes.people_fields([
                _field_value(ref.CONTACT_POSITION, [{"value": ref.POSITIONS[c["position"][i]]}]),
                _field_value(ref.CONTACT_PHONE, [{"value": contact_phone(i, int(s["phone_version"][i])),
                                                  "enum_id": 3_003, "enum_code": "MOB"}]),
                _field_value(ref.CONTACT_EMAIL, [{"value": contact_email(first_latin, last_latin, i),
                                                  "enum_id": 3_011, "enum_code": "WORK"}]),
            ], tl.seed, ref.CONTACT_ID_BASE + i, self.live),
            "account_id": self.tl.profile.account_id, "_links": link(self.href(f"contacts/{ref.CONTACT_ID_BASE + i}")),
        }
        live_company = 0 <= company < len(self.st.companies["is_deleted"]) and not self.st.companies["is_deleted"][company]
        embedded: dict = {"tags": [], "companies": [self._ref("companies", ref.COMPANY_ID_BASE + company)]
                          if live_company else []}
        if "leads" in with_:
            keys, leads = self._leads_by_contact
            lo, hi = np.searchsorted(keys, [i, i + 1])
            embedded["leads"] = self._live_lead_refs(np.sort(leads[lo:hi]))
        item["_embedded"] = embedded
        return item

    def company(self, i: int, with_: set[str]) -> dict:
        tl, s = self.tl, self.st.companies
        co = tl.companies
        lead = int(co["lead"][i])
        resp = int(tl.leads["resp0"][lead])
        name, slug = company_name(int(co["form"][i]), int(co["word"][i]), int(co["number"][i]))
        item = {
            "id": ref.COMPANY_ID_BASE + i, "name": name, "responsible_user_id": resp,
            "group_id": int(group_of(np.array([resp]))[0]), "created_by": int(tl.leads["created_by"][lead]),
            "updated_by": int(s["updated_by"][i]), "created_at": int(s["created_at"][i]),
            "updated_at": int(s["updated_at"][i]), "closest_task_at": None, "is_deleted": False,
            "custom_fields_values": shapes.people_fields([
                _field_value(ref.COMPANY_PHONE, [{"value": company_phone(i), "enum_id": 3_001, "enum_code": "WORK"}]),
                _field_value(ref.COMPANY_WEB, [{"value": f"https://{slug}.example"}]),
            ], tl.seed, ref.COMPANY_ID_BASE + i, self.live),
            "account_id": self.tl.profile.account_id, "_links": link(self.href(f"companies/{ref.COMPANY_ID_BASE + i}")),
        }
        embedded: dict = {"tags": []}
        lead_keys, leads, contact_keys, contacts = self._by_company
        if "leads" in with_:
            lo, hi = np.searchsorted(lead_keys, [i, i + 1])
            embedded["leads"] = self._live_lead_refs(leads[lo:hi])
        if "contacts" in with_:
            lo, hi = np.searchsorted(contact_keys, [i, i + 1])
            dead = self.st.contacts["is_deleted"]
            embedded["contacts"] = [self._ref("contacts", ref.CONTACT_ID_BASE + int(x))
                                    for x in contacts[lo:hi] if not dead[x]]
        item["_embedded"] = embedded
        return item

    # -- activities --------------------------------------------------------------------------

    def task(self, i: int) -> dict:
        t, s = self.tl.tasks, self.st.tasks
        ttype = int(t["type"][i])
        done = bool(s["is_completed"][i])
        resp = int(t["responsible"][i])
        kind = int(t["kind"][i])
        base = ref.LEAD_ID_BASE if kind == LEAD else ref.CONTACT_ID_BASE
        return {
            "id": ref.TASK_ID_BASE + i, "created_by": int(t["created_by"][i]), "updated_by": int(s["updated_by"][i]),
            "created_at": int(t["created"][i]), "updated_at": int(s["updated_at"][i]),
            "responsible_user_id": resp, "group_id": int(group_of(np.array([resp]))[0]),
            "entity_id": base + int(t["entity"][i]), "entity_type": ENTITY_PATH[kind],
            "duration": int(t["duration"][i]), "is_completed": done, "task_type_id": ttype,
            "text": ref.TASK_TEXTS[ttype], "result": {"text": ref.TASK_RESULTS[ttype]} if done else [],
            "complete_till": int(t["complete_till"][i]), "account_id": self.tl.profile.account_id,
            "_links": link(self.href(f"tasks/{ref.TASK_ID_BASE + i}")),
        }

    def note(self, i: int) -> dict:
        n = self.tl.notes
        kind = int(n["kind"][i])
        entity_id = {LEAD: ref.LEAD_ID_BASE, CONTACT: ref.CONTACT_ID_BASE, COMPANY: ref.COMPANY_ID_BASE}[kind] \
            + int(n["entity"][i])
        note_id = ref.NOTE_ID_BASE + i
        resp = int(n["responsible"][i])
        created = int(n["created"][i])
        return {
            "id": note_id, "entity_id": entity_id, "created_by": int(n["created_by"][i]),
            "updated_by": int(n["created_by"][i]), "created_at": created, "updated_at": created,
            "responsible_user_id": resp, "group_id": int(group_of(np.array([resp]))[0]),
            "note_type": self.note_type(i), "params": self.note_params(i),
            "account_id": self.tl.profile.account_id,
            "_links": link(self.href(f"{ENTITY_PATH[kind]}/{entity_id}/notes/{note_id}")),
        }

    def note_params(self, i: int) -> dict:
        n = self.tl.notes
        ntype, variant = int(n["type"][i]), int(n["variant"][i])
        lead = int(n["lead"][i])
        contact = int(self.tl.leads["main_contact"][lead])
        phone = contact_phone(contact, 0) if contact >= 0 else "+7495" + f"{variant % 10**7:07d}"
        if ntype in (CALL_IN, CALL_OUT):
            duration, status = int(n["duration"][i]), int(n["call_status"][i])
            note_id, seed = ref.NOTE_ID_BASE + i, self.tl.seed
            uniq = shapes.call_uniq(seed, note_id, int(n["created"][i])) if self.live \
                else ev.message_uuid(seed, 10**9 + i)
            source, phone = shapes.call_line(seed, note_id, phone, self.live)
            return {"uniq": uniq, "duration": duration, "source": source,
                    "link": shapes.recording_link(seed, note_id, duration, self.live),
                    "phone": phone, "call_status": status, "call_result": ref.CALL_RESULTS[status]}
        if ntype == MAIL:
            income = not bool(n["outgoing"][i])
            client = {"email": f"client{variant % 10_000}@mail.example", "name": "Клиент"}
            user = {"email": ref.USERS[int(np.searchsorted(USER_IDS, n["responsible"][i]))].email, "name": "Менеджер"}
            return {"income": income, "from": client if income else user, "to": user if income else client,
                    "thread_id": str(variant % 1_000_000) if self.live else variant % 1_000_000,
                    "message_id": f"<{variant}@mail.simulated.example>",
                    "private": False, "content_summary": "…", "attach_cnt": variant % 3,
                    "delivery": {"status": "delivered", "time": int(n["created"][i])},
                    "subject": ref.MAIL_SUBJECTS[variant % len(ref.MAIL_SUBJECTS)]}
        assert ntype == COMMON
        text = ref.COMMON_NOTES[variant % len(ref.COMMON_NOTES)]
        service = shapes.service_note(self.tl.seed, ref.NOTE_ID_BASE + i, self.live)
        return {"text": text} if service is None else {"service": service, "text": text}

    def note_type(self, i: int) -> str:
        """A common note left by an integration is served as `service_message` (live shapes)."""
        ntype = int(self.tl.notes["type"][i])
        if ntype == COMMON and shapes.service_note(self.tl.seed, ref.NOTE_ID_BASE + i, self.live):
            return "service_message"
        return NOTE_TYPES[ntype]

    def event(self, i: int) -> dict:
        e = self.events()
        kind, entity_id, src, row = int(e.entity_kind[i]), int(e.entity_id[i]), int(e.src[i]), int(e.row[i])
        entity: dict = {}
        if src == ev.S_CHAT:  # a deleted lead's messages are its contact's; a talk names its contact
            kinds, ids = chats.served(self.tl.chats, self.st.leads["is_deleted"], np.array([row]))
            kind, entity_id = int(kinds[0]), int(ids[0])
            if (contact := chats.linked_contact(self.tl.chats, row, kind)) is not None:
                entity["linked_talk_contact_id"] = contact
        before, after = ev.values(self.tl, src, row, self.live)
        event_id = e.id(i)
        return {
            "id": event_id, "type": ev.TYPES[e.type[i]], "entity_id": entity_id, "entity_type": ev.ENTITY_KINDS[kind],
            "created_by": int(e.created_by[i]), "created_at": int(e.created_at[i]),
            "value_after": after, "value_before": before, "account_id": self.tl.profile.account_id,
            "_links": link(self.href(f"events/{event_id}")),
            "_embedded": {"entity": {"id": entity_id, **entity,
                                     "_links": link(self.href(f"{EVENT_ENTITY_PATH[kind]}/{entity_id}"))}},
        }


def _field_value(f: ref.Field, values: list[dict]) -> dict:
    return {"field_id": f.id, "field_name": f.name, "field_code": f.code, "field_type": f.type, "values": values}


# -- reference data (no state needed) ---------------------------------------------------------

def user(u: ref.User, base: str, default_group_null: bool = False, live: bool = False) -> dict:
    """`default_group_null` (implied by `live`): the default group (id 0) is sent as null, as live accounts do."""
    default_group_null = default_group_null or live
    view = "A" if u.is_admin else "G"
    entity_rights = {"view": view, "edit": view, "add": "A", "delete": "A" if u.is_admin else "D", "export": view}
    return {
        "id": u.id, "name": u.name, "email": u.email, "lang": "ru",
        "rights": {"leads": entity_rights, "contacts": entity_rights, "companies": entity_rights,
                   "tasks": {"edit": "A", "delete": "A" if u.is_admin else "D"}, "mail_access": True,
                   "catalog_access": True, "status_rights": [] if live else None, "is_admin": u.is_admin,
                   "is_free": False, "is_active": u.is_active,
                   "group_id": None if default_group_null and u.group_id == 0 else u.group_id, "role_id": None},
        "_links": link(f"{base}/api/v4/users/{u.id}" + ("/" if live else "")),
    }


def statuses(p: ref.Pipeline, base: str, account_id: int, hidden: frozenset = frozenset(),
             live: bool = False) -> list[dict]:
    """The pipeline's statuses but the `hidden` (deleted) ones; `live`: 142/143 renamed in some pipelines."""
    won_name, lost_name = shapes.closed_status_names(p.id, live)
    rows = [(p.status_id(0), ref.INCOMING_NAME, 10, False, "#c1c1c1", 1)]
    rows += [(p.status_id(j + 1), name, 20 + 10 * j, True, ref.STAGE_COLORS[j % len(ref.STAGE_COLORS)], 0)
             for j, name in enumerate(p.stages)]
    rows += [(ref.WON, won_name, 10000, False, "#CCFF66", 0), (ref.LOST, lost_name, 11000, False, "#D5D8DB", 0)]
    return [{"id": sid, "name": name, "sort": sort, "is_editable": editable, "pipeline_id": p.id, "color": color,
             "type": stype, "account_id": account_id,
             "_links": link(f"{base}/api/v4/leads/pipelines/{p.id}/statuses/{sid}")}
            for sid, name, sort, editable, color, stype in rows if sid not in hidden]


def pipeline(p: ref.Pipeline, base: str, account_id: int, hidden: frozenset = frozenset(),
             live: bool = False) -> dict:
    return {"id": p.id, "name": p.name, "sort": p.sort, "is_main": p.is_main, "is_unsorted_on": True,
            "is_archive": False, "account_id": account_id, "_links": link(f"{base}/api/v4/leads/pipelines/{p.id}"),
            "_embedded": {"statuses": statuses(p, base, account_id, hidden, live)}}


def loss_reason(rid: int, created: int, base: str) -> dict:
    name, sort = LOSS_REASON[rid]
    return {"id": rid, "name": name, "sort": sort, "created_at": created, "updated_at": created,
            "_links": link(f"{base}/api/v4/leads/loss_reasons/{rid}")}


def custom_field(f: ref.Field, base: str) -> dict:
    return {
        "id": f.id, "name": f.name, "code": f.code, "sort": f.sort, "type": f.type, "entity_type": f.entity_type,
        "is_predefined": f.code in ("PHONE", "EMAIL", "POSITION", "WEB", "ADDRESS"), "is_deletable": True,
        "is_api_only": False, "group_id": None, "required_statuses": [], "hidden_statuses": [],
        "enums": [{"id": eid, "value": value, "sort": (k + 1) * 2, "code": code}
                  for k, (eid, value, code) in enumerate(f.enums)] or None,
        "remind": None, "currency": None, "_links": link(f"{base}/api/v4/{f.entity_type}/custom_fields/{f.id}"),
    }


def account(tl: Timeline, with_: set[str], filters_enabled: bool, base: str, at: int) -> dict:
    """`GET /account` at `at`: the profile's id, subdomain and currency; `timezone_offset` is the zone's
    offset at that instant (it changes with DST)."""
    pr = tl.profile
    item = {
        "id": pr.account_id, "name": pr.name, "subdomain": pr.subdomain, "created_at": tl.start,
        "created_by": 0, "updated_at": tl.start, "updated_by": 0, "current_user_id": ref.USERS[0].id,
        "country": pr.country, "currency": pr.currency, "currency_symbol": pr.currency_symbol,
        "customers_mode": "disabled", "is_unsorted_on": True, "is_loss_reason_enabled": True,
        "is_helpbot_enabled": False, "is_technical_account": False, "contact_name_display_order": 1,
        "language": pr.language,
    }
    if "is_api_filter_enabled" in with_:
        item["is_api_filter_enabled"] = filters_enabled
    item["_links"] = link(f"{base}/api/v4/account")
    embedded: dict = {}
    if "task_types" in with_:
        embedded["task_types"] = [{"id": i, "name": name, "color": None, "icon_id": None, "code": code}
                                  for i, name, code in ref.TASK_TYPES]
    if "users_groups" in with_:
        embedded["users_groups"] = [{"id": gid, "name": name, "uuid": None} for gid, name in ref.GROUPS.items()]
    if "datetime_settings" in with_:
        embedded["datetime_settings"] = {
            "date_pattern": "d.m.Y H:i", "short_date_pattern": "d.m.Y", "short_time_pattern": "H:i",
            "date_formant": "d.m.Y", "time_format": "H:i:s", "timezone": pr.timezone,
            "timezone_offset": pr.utc_offset(at)}
    if embedded:
        item["_embedded"] = embedded
    return item
