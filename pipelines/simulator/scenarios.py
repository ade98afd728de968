"""Opt-in cases seen on real accounts that the default account does not have.

`SimulatedAccount.generate(..., scenarios={...})` turns them on. Their draws come from a
random stream of their own, so an account without them is exactly the account of before.

- `default_group_null`: users of the default group (id 0) are sent with `rights.group_id: null`,
  as live accounts send them (the group list still has the group, with id 0). The live shapes
  (shapes.py, the default) already do this; the scenario keeps it under `shapes="documented"`.
- `deleted_stage`: a working stage of the main pipeline is deleted `DELETED_STAGE_DAYS_AGO` days
  before `now`. Leads sitting in it are moved back one stage (a status change by the system), later
  moves into it land there instead, and the status lists stop showing it; the event history keeps
  naming it.
- `contact_nps`: part of the NPS ratings (`nps_rate_added`) are given on the lead's main contact,
  a few on amoCRM customers (an entity the extractor does not read).
- `deleted_activities`: some tasks and notes are deleted (`task_deleted`, `common_note_deleted`
  events); they leave the lists.
- `silent_restore`: restoring a lead, contact or company does not bump its `updated_at` (the
  `*_restored` event is the only trace), and a few quiet entities (`SILENT_RESTORED` leads, one
  contact, one company: nothing happens to them after `SILENT_DELETED_DAYS_AGO`) are deleted
  `SILENT_DELETED_DAYS_AGO` days before `now` and restored `SILENT_RESTORED_DAYS_AGO` days before it.
  An extraction between the two sees them only in the trash; the next one sees only the restore event.
- `merges`: two quiet leads and two contacts (the oldest and the newest) are merged into a duplicate `MERGED_DAYS_AGO`
  days before `now`: the merged-away record leaves the lists but not into the trash view, and its only
  trace is an `entity_merged` event naming it (empty values, amocrm-api.md §2.5); the survivor keeps
  its data.
- `purges`: a few quiet leads (`PURGED_LEADS`), a contact and a company are hard-purged
  `PURGED_DAYS_AGO` days before `now`: they leave every list and answer 204 by id, with no trash
  entry and no event at all. Only a reconciliation of ids (pipelines/amocrm/id_reconciliation.py)
  can tell they are gone; the truth has them deleted at the purge.
- `chat_robots`: part of the outgoing chat messages are sent by robots (`created_by: 0`), some of them
  on talks linked to amoCRM customers, whose owner the warehouse cannot know (chats.py).
- `first_response`: most leads get a first outgoing call or e-mail (some on the lead's contact) after a
  delay drawn around their manager's own median; some get none (first_touch.py).
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .activity import CONTACT, CUSTOMER, DAY, HOUR, LEAD, NEVER

NAMES = frozenset({"default_group_null", "deleted_stage", "contact_nps", "deleted_activities", "silent_restore",
                   "merges", "purges", "chat_robots", "first_response"})
DELETED_STAGE_DAYS_AGO = 45
DELETED_STAGE_POSITION = 3  # of the main pipeline: "Принимают решение"; leads go back to position 2
CONTACT_NPS_SHARE, CUSTOMER_NPS_SHARE = 0.4, 0.1
CUSTOMERS = 20
DELETED_ACTIVITY_SHARE = 0.15
SILENT_DELETED_DAYS_AGO, SILENT_RESTORED_DAYS_AGO = 90, 10
SILENT_RESTORED = 2  # leads
MERGED_DAYS_AGO = 20
PURGED_DAYS_AGO = 5
PURGED_LEADS = 3


def check(names) -> frozenset:
    names = frozenset(names or ())
    unknown = names - NAMES
    if unknown:
        raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {sorted(NAMES)}")
    return names


def random_stream(seed_words: list[int]) -> np.random.Generator:
    return np.random.default_rng([*seed_words, 13])


def delete_stage(path: dict, now: int) -> tuple[dict, tuple[tuple[int, int, int], ...]]:
    """The status rows of `path` (lead, time, status, pipeline; sorted by lead then time) after the
    stage's deletion, and the deleted statuses as (pipeline id, status id, deleted at)."""
    p = ref.PIPELINES[0]
    gone, back = p.status_id(DELETED_STAGE_POSITION), p.status_id(DELETED_STAGE_POSITION - 1)
    at = now - DELETED_STAGE_DAYS_AGO * DAY
    lead, time, status, pipeline = (path[k] for k in ("lead", "time", "status", "pipeline"))
    here = (status == gone) & (pipeline == p.id)
    same_lead_next = np.r_[lead[1:] == lead[:-1], False]
    left_at = np.where(same_lead_next, np.r_[time[1:], 0], NEVER)
    sitting = here & (time < at) & (left_at > at)
    status = np.where(here & (time >= at), back, status)
    lead = np.concatenate([lead, lead[sitting]])
    time = np.concatenate([time, np.full(int(sitting.sum()), at, dtype=np.int64)])
    status = np.concatenate([status, np.full(int(sitting.sum()), back, dtype=status.dtype)])
    pipeline = np.concatenate([pipeline, pipeline[sitting]])
    order = np.lexsort((time, lead))
    lead, time, status, pipeline = lead[order], time[order], status[order], pipeline[order]
    repeated = np.r_[False, (lead[1:] == lead[:-1]) & (status[1:] == status[:-1]) & (pipeline[1:] == pipeline[:-1])]
    keep = ~repeated
    rows = dict(lead=lead[keep], time=time[keep], status=status[keep], pipeline=pipeline[keep])
    return {**path, **rows}, ((p.id, gone, at),)


def nps_entities(rng: np.random.Generator, nps: dict, main_contact: np.ndarray, on_people: bool) -> dict:
    """`nps` with the rated entity of each rating: the lead, or (`on_people`) sometimes its main
    contact or a customer."""
    n = len(nps["lead"])
    kind = np.full(n, LEAD, dtype=np.int8)
    entity = nps["lead"].astype(np.int64)
    if on_people:
        u = rng.random(n)
        contact = main_contact[nps["lead"]]
        on_contact = (u < CONTACT_NPS_SHARE) & (contact >= 0)
        on_customer = (u >= 1 - CUSTOMER_NPS_SHARE) & ~on_contact
        on_customer[np.flatnonzero(~on_contact)[:2]] = True  # a small account has some too
        kind[on_contact], entity[on_contact] = CONTACT, contact[on_contact]
        kind[on_customer], entity[on_customer] = CUSTOMER, rng.integers(0, CUSTOMERS, int(on_customer.sum()))
    return {**nps, "kind": kind, "entity": entity}


def deletion_times(rng: np.random.Generator | None, after: np.ndarray, end: int) -> np.ndarray:
    """When each activity is deleted (NEVER when it is not): a share of them, some time after `after`."""
    if rng is None:
        return np.full(len(after), NEVER, dtype=np.int64)
    t = after + rng.integers(HOUR, 60 * DAY, len(after))
    return np.where((rng.random(len(after)) < DELETED_ACTIVITY_SHARE) & (t <= end), t, NEVER).astype(np.int64)


def plant(tl):
    """The timeline `tl` with the trash rows of its scenarios `silent_restore`, `merges` and `purges` added."""
    if "silent_restore" in tl.scenarios:
        plant_silent_restores(tl)
    if "merges" in tl.scenarios:
        plant_merges(tl)
    if "purges" in tl.scenarios:
        plant_purges(tl)
    return tl


def busy_until(tl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lead, contact and company of the timeline `tl`: the time of the last thing that happens to it
    (changes, activity of its leads, ratings; NEVER when it is ever deleted)."""
    busy = tl.leads["created"].copy()
    for log in (tl.status_log, tl.price_log, tl.responsible_log, tl.satisfaction_log):
        np.maximum.at(busy, log.entity, log.time)
    np.maximum.at(busy, tl.lead_trash.entity, NEVER)
    for table, columns in ((tl.notes, ("created", "deleted_at")), (tl.tasks, ("created", "completed_at", "deleted_at")),
                           (tl.chats, ("created",)), (tl.nps, ("time",))):
        for column in columns:
            times = table[column]
            np.maximum.at(busy, table["lead"], np.where(times == NEVER, 0, times))
    contacts = tl.contacts
    c_busy = contacts["created"].copy()
    np.maximum.at(c_busy, tl.contact_edits.entity, tl.contact_edits.time)
    np.maximum.at(c_busy, tl.contact_trash.entity, NEVER)
    np.maximum.at(c_busy, tl.lead_contacts["contact"], busy[tl.lead_contacts["lead"]])
    k_busy = tl.companies["created"].copy()
    np.maximum.at(k_busy, tl.company_trash.entity, NEVER)
    has_company = contacts["company"] >= 0
    np.maximum.at(k_busy, contacts["company"][has_company], c_busy[has_company])
    lead_company = tl.leads["company"] >= 0
    np.maximum.at(k_busy, tl.leads["company"][lead_company], busy[lead_company])
    return busy, c_busy, k_busy


def plant_silent_restores(tl) -> None:
    """Delete and restore quiet entities of the timeline `tl` (see `silent_restore` above), in place.

    Quiet: never deleted otherwise, and nothing of theirs happens after the day before the deletion
    (`busy_until`), so no list or event shows a deleted entity changing.
    """
    deleted, restored = tl.now - SILENT_DELETED_DAYS_AGO * DAY, tl.now - SILENT_RESTORED_DAYS_AGO * DAY
    quiet = [np.flatnonzero(busy < deleted - DAY) for busy in busy_until(tl)]
    chosen = ((tl.lead_trash, quiet[0][-SILENT_RESTORED:]), (tl.contact_trash, quiet[1][-1:]),
              (tl.company_trash, quiet[2][-1:]))
    for log, rows in chosen:
        for row in rows:
            log.append(int(row), deleted, deleted=True, merged=False, purged=False, by=ref.USERS[0].id)
            log.append(int(row), restored, deleted=False, merged=False, purged=False, by=ref.USERS[0].id)


def plant_merges(tl) -> None:
    """Merge quiet duplicates away (see `merges` above), in place: the oldest and the newest quiet lead
    and contact leave amoCRM `MERGED_DAYS_AGO` days before `now` through a merge (an `entity_merged`
    event), not the trash."""
    at = tl.now - MERGED_DAYS_AGO * DAY
    quiet = [np.flatnonzero(busy < at - DAY) for busy in busy_until(tl)]
    for log, rows in ((tl.lead_trash, np.unique(quiet[0][[0, -1]])), (tl.contact_trash, np.unique(quiet[1][[0, -1]]))):
        for row in rows:
            log.append(int(row), at, deleted=True, merged=True, purged=False, by=ref.USERS[0].id)


def plant_purges(tl) -> None:
    """Purge quiet records for good (see `purges` above), in place: old ones (the second quiet lead on,
    the second quiet contact and company: the first may be merged away), so that an extraction long
    before `now` sees them live."""
    at = tl.now - PURGED_DAYS_AGO * DAY
    quiet = [np.flatnonzero(busy < at - DAY) for busy in busy_until(tl)]
    for log, rows in ((tl.lead_trash, quiet[0][1:1 + PURGED_LEADS]), (tl.contact_trash, quiet[1][1:2]),
                      (tl.company_trash, quiet[2][1:2])):
        for row in rows:
            log.append(int(row), at, deleted=True, merged=False, purged=True, by=ref.USERS[0].id)
