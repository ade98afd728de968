"""The event feed: one event per timeline change, in one time-sorted index.

Each event is a (source, row) pointer into the timeline plus the columns the API
filters on. Ids are 26-char lowercase ULID-like strings: 48 bits of milliseconds
then 80 bits derived from (source, stable row uid), so sorting ids sorts by time
and the same account always gets the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from . import shapes
from .generator import CALL_IN, CALL_OUT, COMMON, COMPANY, CONTACT, CUSTOMER, LEAD, MAIL, NEVER, Timeline
from .people import contact_phone

TYPES = (
    "lead_added", "lead_status_changed", "sale_field_changed", "entity_responsible_changed",
    "custom_field_value_changed", "lead_deleted", "lead_restored", "incoming_call", "outgoing_call",
    "common_note_added", "incoming_chat_message", "outgoing_chat_message", "nps_rate_added", "task_added",
    "task_completed", "contact_added", "contact_deleted", "contact_restored", "company_added",
    "company_deleted", "company_restored", "task_deleted", "common_note_deleted", "entity_merged",
)
TYPE_CODE = {t: i for i, t in enumerate(TYPES)}
ENTITY_KINDS = ("lead", "contact", "company", "task", "customer")  # index = LEAD, CONTACT, COMPANY, 3, CUSTOMER
TASK = 3
assert ENTITY_KINDS[CUSTOMER] == "customer"
ENTITY_ID_BASE = np.array([ref.LEAD_ID_BASE, ref.CONTACT_ID_BASE, ref.COMPANY_ID_BASE, ref.TASK_ID_BASE,
                           ref.CUSTOMER_ID_BASE])

# sources: which timeline table a row points into
(S_STATUS, S_PRICE, S_RESP, S_SAT, S_LEAD_TRASH, S_NOTE, S_CHAT, S_NPS, S_TASK_ADDED, S_TASK_DONE,
 S_CONTACT, S_CONTACT_EDIT, S_CONTACT_TRASH, S_COMPANY, S_COMPANY_TRASH, S_TASK_DELETED, S_NOTE_DELETED) = range(17)

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {c: i for i, c in enumerate(CROCKFORD)}
MASK64 = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-spread deterministic hash of uint64s."""
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def encode_id(ms: int, rand80: int) -> str:
    value = (ms << 80) | rand80
    return "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


def decode_id(text: str) -> tuple[int, int] | None:
    """(ms, rand80) of an event id, or None if it is not one."""
    if len(text) != 26 or any(c not in _DECODE for c in text):
        return None
    value = 0
    for c in text:
        value = value * 32 + _DECODE[c]
    return value >> 80, value & ((1 << 80) - 1)


@dataclass
class EventIndex:
    """All events of the timeline, ascending by id (= by time).

    An id is 48 bits of milliseconds and 80 random bits; `key` holds the
    milliseconds and the top 22 random bits (one sortable int64), `tail` the other 58.
    """

    created_at: np.ndarray
    type: np.ndarray
    entity_kind: np.ndarray
    entity_id: np.ndarray
    created_by: np.ndarray
    src: np.ndarray
    row: np.ndarray
    key: np.ndarray
    tail: np.ndarray

    def __len__(self) -> int:
        return len(self.created_at)

    def count_at(self, at: int) -> int:
        """Events at or before `at` are the prefix [0, count)."""
        return int(np.searchsorted(self.created_at, at, side="right"))

    def id(self, i: int) -> str:
        key = int(self.key[i])
        return encode_id(key >> 22, ((key & TOP_MASK) << 58) | int(self.tail[i]))

    def find(self, event_id: str) -> int | None:
        decoded = decode_id(event_id)
        if decoded is None:
            return None
        ms, rand = decoded
        key = (ms << 22) | (rand >> 58)
        lo, hi = np.searchsorted(self.key, [key, key + 1])
        return next((i for i in range(lo, hi) if int(self.tail[i]) == rand & TAIL_MASK), None)


TOP_MASK, TAIL_MASK = (1 << 22) - 1, (1 << 58) - 1
COLUMNS = {"src": np.int8, "uid": np.int64, "created_at": np.int64, "type": np.int8, "entity_kind": np.int8,
           "entity_id": np.int32, "created_by": np.int32, "row": np.int32}


def build(tl: Timeline) -> EventIndex:
    """Index every event; columns are compact and reordered one at a time to keep 1M-lead accounts lean."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS}

    def add(src, uid, created_at, types, kind, entity_idx, created_by, rows=None):
        n = len(uid)
        values = {"src": src, "uid": uid, "created_at": created_at, "type": types, "entity_kind": kind,
                  "entity_id": ENTITY_ID_BASE[kind] + np.asarray(entity_idx, np.int64), "created_by": created_by,
                  "row": np.arange(n) if rows is None else rows}
        for name, dtype in COLUMNS.items():
            parts[name].append(np.broadcast_to(np.asarray(values[name]), n).astype(dtype))

    st = tl.status_log
    first = st.previous() < 0
    add(S_STATUS, st.uid, st.time, np.where(first, TYPE_CODE["lead_added"], TYPE_CODE["lead_status_changed"]),
        LEAD, st.entity, st["by"])
    for src, log, code in ((S_PRICE, tl.price_log, "sale_field_changed"),
                           (S_RESP, tl.responsible_log, "entity_responsible_changed"),
                           (S_SAT, tl.satisfaction_log, "custom_field_value_changed")):
        add(src, log.uid, log.time, TYPE_CODE[code], LEAD, log.entity, log["by"])
    for src, log, kind, name in ((S_LEAD_TRASH, tl.lead_trash, LEAD, "lead"),
                                 (S_CONTACT_TRASH, tl.contact_trash, CONTACT, "contact"),
                                 (S_COMPANY_TRASH, tl.company_trash, COMPANY, "company")):
        kept = np.flatnonzero(~log["purged"].astype(bool))  # a purge leaves no event (scenario `purges`)
        deleted = np.where(log["merged"][kept], TYPE_CODE["entity_merged"], TYPE_CODE[f"{name}_deleted"])
        add(src, log.uid[kept], log.time[kept], np.where(log["deleted"][kept], deleted,
                                                         TYPE_CODE[f"{name}_restored"]),
            kind, log.entity[kept], log["by"][kept], kept)
    notes = tl.notes
    rows = np.flatnonzero(notes["type"] != MAIL)  # e-mails have no event
    ntype = notes["type"][rows]
    codes = np.select([ntype == CALL_IN, ntype == CALL_OUT, ntype == COMMON],
                      [TYPE_CODE["incoming_call"], TYPE_CODE["outgoing_call"], TYPE_CODE["common_note_added"]])
    add(S_NOTE, rows, notes["created"][rows], codes, notes["kind"][rows], notes["entity"][rows],
        notes["created_by"][rows], rows)
    ch = tl.chats
    add(S_CHAT, np.arange(len(ch["lead"])), ch["created"],
        np.where(ch["outgoing"], TYPE_CODE["outgoing_chat_message"], TYPE_CODE["incoming_chat_message"]),
        ch["kind"], ch["entity"], ch["created_by"])  # the entity of the talk; served: chats.served
    add(S_NPS, np.arange(len(tl.nps["lead"])), tl.nps["time"], TYPE_CODE["nps_rate_added"], tl.nps["kind"],
        tl.nps["entity"], 0)
    tk = tl.tasks
    all_tasks = np.arange(len(tk["created"]))
    add(S_TASK_ADDED, all_tasks, tk["created"], TYPE_CODE["task_added"], TASK, all_tasks, tk["created_by"])
    done = np.flatnonzero(tk["completed_at"] != NEVER)
    add(S_TASK_DONE, done, tk["completed_at"][done], TYPE_CODE["task_completed"], TASK, done,
        tk["responsible"][done], done)
    gone = np.flatnonzero(tk["deleted_at"] != NEVER)
    add(S_TASK_DELETED, gone, tk["deleted_at"][gone], TYPE_CODE["task_deleted"], TASK, gone,
        tk["responsible"][gone], gone)
    gone = np.flatnonzero(notes["deleted_at"] != NEVER)
    add(S_NOTE_DELETED, gone, notes["deleted_at"][gone], TYPE_CODE["common_note_deleted"], notes["kind"][gone],
        notes["entity"][gone], notes["responsible"][gone], gone)
    c = tl.contacts
    add(S_CONTACT, np.arange(len(c["created"])), c["created"], TYPE_CODE["contact_added"], CONTACT,
        np.arange(len(c["created"])), 0)
    add(S_CONTACT_EDIT, tl.contact_edits.uid, tl.contact_edits.time, TYPE_CODE["custom_field_value_changed"],
        CONTACT, tl.contact_edits.entity, tl.contact_edits["by"])
    co = tl.companies
    add(S_COMPANY, np.arange(len(co["created"])), co["created"], TYPE_CODE["company_added"], COMPANY,
        np.arange(len(co["created"])), 0)

    cols = {name: np.concatenate(parts.pop(name)) for name in COLUMNS}
    salt = _mix(np.array([tl.seed], dtype=np.uint64))[0]
    mixed = (cols["src"].astype(np.uint64) << np.uint64(48)) ^ cols.pop("uid").astype(np.uint64) ^ salt
    h1 = _mix(mixed)
    ms = cols["created_at"] * 1000 + (h1 % np.uint64(1000)).astype(np.int64)
    key = (ms << 22) | (h1 >> np.uint64(42)).astype(np.int64)
    del ms, h1
    tail = (_mix(mixed ^ np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(6)).astype(np.int64)
    del mixed
    order = np.argsort(key, kind="stable")
    key = key[order]
    if np.any(key[1:] == key[:-1]):  # same millisecond and same 22 bits: settle by the rest
        order = order[np.lexsort((tail[order], key))]  # key is already sorted: only ties move
    cols["tail"] = tail
    for name in list(cols):
        cols[name] = cols[name][order]
    return EventIndex(key=key, **cols)


def values(tl: Timeline, src: int, row: int, live: bool = False) -> tuple[list, list]:
    """(value_before, value_after) of one event, shaped as amoCRM sends them (`live`: see shapes.py)."""
    if src == S_STATUS:
        log = tl.status_log
        prev = row - 1 if row > 0 and log.entity[row - 1] == log.entity[row] else -1
        if prev < 0:
            return [], []
        return ([{"lead_status": {"id": int(log["status"][prev]), "pipeline_id": int(log["pipeline"][prev])}}],
                [{"lead_status": {"id": int(log["status"][row]), "pipeline_id": int(log["pipeline"][row])}}])
    if src == S_PRICE:
        log = tl.price_log
        prev = row - 1 if row > 0 and log.entity[row - 1] == log.entity[row] else -1
        before = int(log["price"][prev]) if prev >= 0 else int(tl.leads["price0"][log.entity[row]])
        return ([{"sale_field_value": {"sale": before}}], [{"sale_field_value": {"sale": int(log["price"][row])}}])
    if src == S_RESP:
        log = tl.responsible_log
        lead = log.entity[row]
        return ([{"responsible_user": {"id": int(tl.leads["resp0"][lead])}}],
                [{"responsible_user": {"id": int(log["user"][row])}}])
    if src == S_SAT:
        return [], [{"custom_field_value": {"field_id": ref.SATISFACTION_FIELD.id, "field_type": 2,
                                            "enum_id": None, "text": str(int(tl.satisfaction_log["value"][row]))}}]
    if src == S_CONTACT_EDIT:
        contact = int(tl.contact_edits.entity[row])
        return ([{"custom_field_value": {"field_id": ref.CONTACT_PHONE.id, "field_type": 8, "enum_id": 3_003,
                                         "text": contact_phone(contact, 0)}}],
                [{"custom_field_value": {"field_id": ref.CONTACT_PHONE.id, "field_type": 8, "enum_id": 3_003,
                                         "text": contact_phone(contact, 1)}}])
    if src in (S_NOTE, S_NOTE_DELETED):
        return [], [{"note": {"id": ref.NOTE_ID_BASE + row}}]
    if src == S_CHAT:
        talk = int(tl.chats["talk"][row])
        return [], [{"message": shapes.chat_message(tl.seed, message_uuid(tl.seed, row), talk, live)}]
    if src == S_NPS:
        return [], [{"nps": {"rate": int(tl.nps["rate"][row])}}]
    return [], []  # added / deleted / restored / task events carry no values


def message_uuid(seed: int, row: int) -> str:
    a, b = (int(x) for x in _mix(np.array([seed * 7919 + row, ~row & MASK64], dtype=np.uint64)))
    h = f"{a:016x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

