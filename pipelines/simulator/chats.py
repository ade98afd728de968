"""Chat messages (`incoming_chat_message` / `outgoing_chat_message` events) as live amoCRM serves them.

A message belongs to a talk with the lead's main contact (a chat always has a contact; leads without
one have no chats). amocrm-api.md §2.5 and the events docs ("особенности фильтрации событий"):
- while the lead lives, its chat events have `entity_type: "lead"` and carry the talk's contact in
  `_embedded.entity.linked_talk_contact_id`; talks linked to a customer likewise name the customer;
- once the lead is deleted they come back as events of that contact (and as the lead's again after a
  restore), so `served` depends on the moment asked;
- `filter[entity]` finds them only under `contact`, whatever entity they name (`matches_entity`).
  The extractor lists events without an entity filter, so it sees them all.

Scenario `chat_robots` (scenarios.py): `ROBOT_SHARE` of the outgoing messages are sent by a robot
(`created_by: 0`), and `CUSTOMER_SHARE` of those sit on a talk linked to an amoCRM customer (an
entity the extractor does not read, so the warehouse knows no owner for it).
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .activity import CONTACT, CUSTOMER, LEAD, _activity_times
from .log import _columns

ROBOT_SHARE = 0.3
CUSTOMER_SHARE = 0.25
CUSTOMERS = 20  # as scenarios.CUSTOMERS: customers exist only as event entities
CUSTOMER_TALK_BASE = 10_000_000  # talk keys of customer talks, past any lead row


def generate(rng, created, window_end, resp_at, main_contact) -> dict[str, np.ndarray]:
    """Messages per lead, sorted by time; outgoing ones by the lead's responsible user, incoming by 0."""
    lead, time = _activity_times(rng, created, window_end, 0.08, 0.5)
    outgoing = rng.random(len(lead)) < 0.5
    by = np.where(outgoing, resp_at(lead, time), 0)
    keep = main_contact[lead] >= 0  # a talk needs a contact (dropped after the draws: they stay as before)
    lead, time, outgoing, by = lead[keep], time[keep], outgoing[keep], by[keep]
    order = np.argsort(time, kind="stable")
    cols = dict(lead=lead, created=time, outgoing=outgoing, created_by=by, kind=np.full(len(lead), LEAD, np.int8),
                entity=lead.astype(np.int64), contact=main_contact[lead], talk=lead.astype(np.int64))
    return _columns(cols, order, ("created",))


def add_robots(rng: np.random.Generator, chats: dict) -> dict:
    """`chats` with a share of the outgoing messages sent by robots, some of them on customers' talks."""
    out = np.flatnonzero(chats["outgoing"])
    robot = out[rng.random(len(out)) < ROBOT_SHARE]
    on_customer = robot[rng.random(len(robot)) < CUSTOMER_SHARE]
    if len(on_customer) < 2:  # a small account has some too
        on_customer = robot[:2]
    chats = {k: v.copy() for k, v in chats.items()}
    chats["created_by"][robot] = 0
    customer = rng.integers(0, CUSTOMERS, len(on_customer))
    chats["kind"][on_customer] = CUSTOMER
    chats["entity"][on_customer] = customer
    chats["talk"][on_customer] = CUSTOMER_TALK_BASE + customer
    return chats


def served(chats: dict, lead_deleted: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entity kind, entity id) the API names for chat rows `rows` given which leads are deleted now."""
    kind = chats["kind"][rows].astype(np.int8)
    lead = chats["lead"][rows]
    gone = (kind == LEAD) & lead_deleted[np.minimum(lead, len(lead_deleted) - 1)]
    kind = np.where(gone, CONTACT, kind).astype(np.int8)
    base = np.select([kind == LEAD, kind == CONTACT], [ref.LEAD_ID_BASE, ref.CONTACT_ID_BASE], ref.CUSTOMER_ID_BASE)
    entity = np.where(kind == CONTACT, chats["contact"][rows], chats["entity"][rows])
    return kind, (base + entity).astype(np.int64)


def linked_contact(chats: dict, row: int, kind: int) -> int | None:
    """`linked_talk_contact_id` of a chat event naming a lead or customer (none when it names the contact)."""
    return None if kind == CONTACT else ref.CONTACT_ID_BASE + int(chats["contact"][row])


def matches_entity(entities: list[str]) -> bool:
    """Whether chat events pass a `filter[entity]` of these names: only `contact` finds them."""
    return "contact" in entities


def entity_mask(chats: dict, events, lead_deleted: np.ndarray, n: int, entity_ids: list, entities: list) -> np.ndarray:
    """Which of the first `n` events (an events.EventIndex) pass `filter[entity_id]` / `filter[entity]`,
    by the entity each is served with; chat events pass an entity filter only as `contact`."""
    from .events import ENTITY_KINDS, S_CHAT

    kind, ids = events.entity_kind[:n].copy(), events.entity_id[:n].astype(np.int64)
    chat = np.flatnonzero(events.src[:n] == S_CHAT)
    kind[chat], ids[chat] = served(chats, lead_deleted, events.row[chat])
    mask = np.isin(ids, np.asarray(entity_ids)) if entity_ids else np.ones(n, bool)
    if entities:
        by_kind = np.isin(kind, [ENTITY_KINDS.index(k) for k in entities if k in ENTITY_KINDS])
        by_kind[chat] = matches_entity(entities)
        mask &= by_kind
    return mask
