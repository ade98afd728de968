"""Generates an account's whole timeline up front, vectorised with numpy.

Every lead's life is drawn at once: a [leads x stages] matrix of dwell times and
loss draws gives the stage path (lead_paths.py), then small vectorised passes add pipeline moves,
reopens, price and responsible edits, satisfaction scores, deletions and restores.
Contacts, companies, notes, tasks and chats hang off the leads. Nothing here knows
about "now": `state.py` folds the timeline up to any moment T.

Changes are kept as `Log`s (one row per change, sorted by entity then time), so
"the state at T" is "each entity's last row at or before T", and every log row is
also exactly one event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from . import activity, lead_fields
from . import chats as chat
from . import first_touch
from . import scenarios as scenario
from .activity import (  # noqa: F401  (re-exported: the rest of the simulator imports them from here)
    CALL_IN, CALL_OUT, COMMON, COMPANY, CONTACT, CUSTOMER, DAY, HOUR, LEAD, MAIL, NEVER, NOTE_TYPES, actor,
)
from .lead_paths import choose_pipelines, paths, summarise_path
from .log import Log

ACTIVE_USERS = np.array([i for i, u in enumerate(ref.USERS) if u.is_active])
INACTIVE_USER = next(i for i, u in enumerate(ref.USERS) if not u.is_active)
USER_IDS = np.array([u.id for u in ref.USERS], dtype=np.int64)


@dataclass
class Timeline:
    """All of an account's history and future, as columns; row i of `leads` is lead id LEAD_ID_BASE + i."""

    seed: int
    start: int
    now: int
    end: int
    leads: dict[str, np.ndarray]
    contacts: dict[str, np.ndarray]
    companies: dict[str, np.ndarray]
    lead_contacts: dict[str, np.ndarray]  # sorted by lead
    status_log: Log  # first row of each lead = the status it was created in
    price_log: Log
    responsible_log: Log
    satisfaction_log: Log
    lead_trash: Log  # deleted=True/False rows
    contact_edits: Log
    contact_trash: Log
    company_trash: Log
    notes: dict[str, np.ndarray]  # sorted by created_at; note id = NOTE_ID_BASE + row
    tasks: dict[str, np.ndarray]  # sorted by created_at; task id = TASK_ID_BASE + row
    chats: dict[str, np.ndarray]
    nps: dict[str, np.ndarray]  # rated entity: `kind` (LEAD, CONTACT, CUSTOMER) and `entity` (row or index)
    scenarios: frozenset = frozenset()  # see scenarios.py
    deleted_statuses: tuple = ()  # (pipeline id, status id, deleted at)
    profile: ref.AccountProfile = ref.DEFAULT_PROFILE  # who the account is: id, subdomain, timezone, currency




def generate(seed: int, leads: int, now: int, horizon_days: int = 60, history_days: int = 365,
             scenarios=frozenset(), profile: ref.AccountProfile = ref.DEFAULT_PROFILE) -> Timeline:
    """The whole timeline of an account with about `leads` leads created by `now`, with the opt-in
    `scenarios` of scenarios.py. The `profile`'s timezone places the month-end wins; the random draws
    do not depend on it, so two profiles with one seed differ only there."""
    if leads < 1:
        raise ValueError("leads must be >= 1")
    scenarios = scenario.check(scenarios)
    srng = scenario.random_stream([seed, leads, now, horizon_days, history_days])
    rng = np.random.default_rng([seed, leads, now, horizon_days, history_days])
    start, end = now - history_days * DAY, now + horizon_days * DAY
    n_future = round(leads * horizon_days / history_days)
    created = np.concatenate([np.sort(rng.integers(start, now + 1, leads)),
                              np.sort(rng.integers(now + 1, end + 1, n_future))]).astype(np.int64)
    n = len(created)

    contacts, companies, lead_contacts, main_contact, repeat = _people(rng, created)
    pipe = choose_pipelines(rng, repeat)
    path = paths(rng, created, pipe, end, now, profile.zone)
    deleted_statuses = ()
    if "deleted_stage" in scenarios:
        path, deleted_statuses = scenario.delete_stage(path, now)
        path = summarise_path(path, n, end)
    resp0, responsible_log, resp_at = _responsibles(rng, created, path, start, now, end)
    status_log = Log(path["lead"], path["time"], status=path["status"], pipeline=path["pipeline"],
                     by=actor(rng, resp_at(path["lead"], path["time"]), 0.1))
    first = np.r_[True, status_log.entity[1:] != status_log.entity[:-1]]
    # leads arriving in the incoming stage mostly come from forms and calls (created by the system, 0)
    created_by = np.where((path["start_pos"] == 0) & (rng.random(n) < 0.7), 0, USER_IDS[resp0])
    status_log.columns["by"][first] = created_by[status_log.entity[first]]

    price0, price_log = _prices(rng, created, path, resp_at, end)
    final_won = path["final_status"] == ref.WON
    satisfaction_log, nps = _scores(rng, path, final_won, end)
    last_change = np.maximum.reduce([path["last_time"], _last_per(price_log, n), _last_per(satisfaction_log, n),
                                     _last_per(responsible_log, n)])
    lead_trash, deleted_at = _trash(rng, last_change, end, 0.015, resp_at)

    window_end = np.minimum.reduce([path["life_end"], deleted_at, created + 120 * DAY, np.full(n, end)])
    notes = activity.notes(rng, created, window_end, resp_at, main_contact, contacts)
    if "first_response" in scenarios:
        notes = first_touch.add(np.random.default_rng([seed, leads, now, horizon_days, history_days, 19]),
                                notes, created, window_end, resp_at, main_contact)
    tasks = activity.tasks(rng, created, window_end, resp_at, main_contact, end)
    chats = chat.generate(rng, created, window_end, resp_at, main_contact)
    if "chat_robots" in scenarios:
        chats = chat.add_robots(np.random.default_rng([seed, leads, now, horizon_days, history_days, 17]), chats)
    nps = scenario.nps_entities(srng, nps, main_contact, "contact_nps" in scenarios)
    deleting = srng if "deleted_activities" in scenarios else None
    notes["deleted_at"] = scenario.deletion_times(deleting, notes["created"], end)
    tasks["deleted_at"] = scenario.deletion_times(
        deleting, np.where(tasks["completed_at"] != NEVER, tasks["completed_at"], tasks["created"]), end)

    lead_cols = dict(
        created=created, created_by=created_by.astype(np.int64), resp0=USER_IDS[resp0], price0=price0,
        product=rng.integers(0, len(ref.LEAD_PRODUCTS), n).astype(np.int8),
        utm=np.where(rng.random(n) < ref.UTM_MISSING, -1,
                     rng.choice(len(ref.UTM_VALUES), n, p=ref.UTM_WEIGHTS)).astype(np.int8),
        source=np.where(rng.random(n) < 0.5, rng.choice([s[0] for s in ref.SOURCES], n), -1).astype(np.int64),
        tag=np.where(rng.random(n) < 0.15, rng.integers(0, len(ref.TAGS), n), -1).astype(np.int8),
        loss_reason=np.where(rng.random(n) < ref.LOSS_REASON_MISSING, -1,
                             np.array([r[0] for r in ref.LOSS_REASONS])[
                                 rng.choice(len(ref.LOSS_REASONS), n, p=ref.LOSS_REASON_WEIGHTS)]).astype(np.int64),
        main_contact=main_contact,
        company=np.where(main_contact >= 0, contacts["company"][np.maximum(main_contact, 0)], -1),
    )
    lead_cols.update(lead_fields.draw([seed, leads, now, horizon_days, history_days], lead_cols["tag"],
                                      lead_cols["product"]))
    contact_edits, contact_trash, company_trash = _people_changes(rng, contacts, companies, end)
    return scenario.plant(Timeline(
        seed=seed, start=start, now=now, end=end, leads=lead_cols, contacts=contacts, companies=companies,
        lead_contacts=lead_contacts, status_log=status_log, price_log=price_log, responsible_log=responsible_log,
        satisfaction_log=satisfaction_log, lead_trash=lead_trash, contact_edits=contact_edits,
        contact_trash=contact_trash, company_trash=company_trash, notes=notes, tasks=tasks, chats=chats, nps=nps,
        scenarios=scenarios, deleted_statuses=deleted_statuses, profile=profile))


def _last_per(log: Log, n: int) -> np.ndarray:
    """Latest change time per entity over a whole log (a large negative number when none)."""
    out = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
    np.maximum.at(out, log.entity, log.time)
    return out


def _people(rng, created):
    """Contacts and companies. A lead's main contact is new, a returning client's, or missing."""
    n = len(created)
    u = rng.random(n)
    kind = np.where(u < 0.05, 0, np.where(u < 0.27, 1, 2))  # 0 none, 1 returning client, 2 new
    is_new = kind == 2
    new_before = np.cumsum(is_new) - is_new
    kind[(kind == 1) & (new_before == 0)] = 2
    is_new = kind == 2
    new_before = np.cumsum(is_new) - is_new
    n_new = int(is_new.sum())
    main_ord = np.where(is_new, new_before, (rng.random(n) * new_before).astype(np.int64))
    main_ord[kind == 0] = -1

    # Contacts in order of the new main contacts, then the extra (second) contacts.
    new_leads = np.flatnonzero(is_new)
    extra_leads = np.flatnonzero((kind > 0) & (rng.random(n) < 0.08))
    c_lead = np.concatenate([new_leads, extra_leads])
    c_created = np.concatenate([created[new_leads] - rng.integers(0, 600, n_new),
                                created[extra_leads] + rng.integers(600, 3 * DAY, len(extra_leads))])

    # Companies, attached to new main contacts: a new company, an existing one, or none.
    v = rng.random(n_new)
    c_kind = np.where(v < 0.3, 2, np.where(v < 0.4, 1, 0))
    new_co = c_kind == 2
    co_before = np.cumsum(new_co) - new_co
    c_kind[(c_kind == 1) & (co_before == 0)] = 0
    co_ord = np.where(new_co, co_before, (rng.random(n_new) * co_before).astype(np.int64))
    co_ord[c_kind == 0] = -1
    co_created = c_created[:n_new][new_co] - rng.integers(0, 600, int(new_co.sum()))
    co_order = np.argsort(co_created, kind="stable")
    co_rank = np.empty_like(co_order)
    co_rank[co_order] = np.arange(len(co_order))
    main_company = np.where(co_ord >= 0, co_rank[np.maximum(co_ord, 0)] if len(co_rank) else -1, -1)
    # an extra contact works where the lead's main contact works
    lead_company = np.full(n, -1, dtype=np.int64)
    lead_company[new_leads] = main_company
    returning = np.flatnonzero(kind == 1)
    lead_company[returning] = lead_company[new_leads[main_ord[returning]]]
    c_company = np.concatenate([main_company, lead_company[extra_leads]])

    order = np.argsort(c_created, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    main_contact = np.where(main_ord >= 0, rank[np.maximum(main_ord, 0)] if len(rank) else -1, -1).astype(np.int64)
    extra_contact = rank[n_new:]
    m = len(c_lead)
    female = rng.random(m) < 0.5
    contacts = dict(
        created=c_created[order].astype(np.int64), lead=c_lead[order], company=c_company[order].astype(np.int64),
        female=female, first=rng.integers(0, 8, m).astype(np.int8), last=rng.integers(0, len(ref.LAST_NAMES), m).astype(np.int8),
        position=rng.integers(0, len(ref.POSITIONS), m).astype(np.int8),
    )
    k = len(co_created)
    companies = dict(created=co_created[co_order].astype(np.int64), lead=new_leads[new_co][co_order],
                     form=rng.integers(0, len(ref.COMPANY_FORMS), k).astype(np.int8),
                     word=rng.integers(0, len(ref.COMPANY_WORDS), k).astype(np.int8),
                     number=rng.integers(1, 100, k).astype(np.int16))
    links_lead = np.concatenate([np.flatnonzero(main_contact >= 0), extra_leads])
    links_contact = np.concatenate([main_contact[main_contact >= 0], extra_contact])
    links_main = np.concatenate([np.ones(int((main_contact >= 0).sum()), bool), np.zeros(len(extra_leads), bool)])
    o = np.lexsort((~links_main, links_lead))
    lead_contacts = dict(lead=links_lead[o], contact=links_contact[o], is_main=links_main[o])
    return contacts, companies, lead_contacts, main_contact, kind == 1


def _responsibles(rng, created, path, start, now, end):
    """First responsible per lead, responsible changes, and a lookup `resp_at(lead, time) -> user id`."""
    n = len(created)
    weights = np.array(ref.USER_WEIGHTS)
    resp0 = rng.choice(len(ref.USERS), n, p=weights / weights.sum())
    left_at = start + int(ref.INACTIVE_USER_LEFT_AT * (now - start))
    late = (resp0 == INACTIVE_USER) & (created > left_at)
    resp0[late] = rng.choice(ACTIVE_USERS[1:], int(late.sum()))
    life_end = path["life_end"]
    # the inactive user's open leads were handed over when they left
    handed = np.flatnonzero((resp0 == INACTIVE_USER) & (life_end > left_at))
    random_edit = np.flatnonzero((resp0 != INACTIVE_USER) & (rng.random(n) < 0.06))
    t_hand = left_at + rng.integers(0, 3 * DAY, len(handed))
    t_edit = created[random_edit] + (rng.uniform(0.05, 0.95, len(random_edit))
                                     * (life_end[random_edit] - created[random_edit])).astype(np.int64)
    new_hand = rng.choice(ACTIVE_USERS[1:], len(handed))
    shift = rng.integers(1, len(ACTIVE_USERS), len(random_edit))
    new_edit = ACTIVE_USERS[(np.searchsorted(ACTIVE_USERS, resp0[random_edit]) + shift) % len(ACTIVE_USERS)]
    lead = np.concatenate([handed, random_edit])
    time = np.concatenate([t_hand, t_edit])
    user = np.concatenate([new_hand, new_edit])
    keep = time <= end
    lead, time, user = lead[keep], time[keep], user[keep]
    change_time = np.full(n, NEVER, dtype=np.int64)
    change_time[lead] = time
    resp1 = resp0.copy()
    resp1[lead] = user

    def resp_at(leads: np.ndarray, times: np.ndarray) -> np.ndarray:
        return USER_IDS[np.where(times >= change_time[leads], resp1[leads], resp0[leads])]

    by = np.where(rng.random(len(lead)) < 0.5, USER_IDS[0], USER_IDS[resp0[lead]])  # the head or the old owner
    return resp0, Log(lead, time, user=USER_IDS[user], by=by), resp_at


def _prices(rng, created, path, resp_at, end):
    n = len(created)
    price0 = np.where(rng.random(n) < 0.28, 0, _price(rng, n))
    base_close = path["base_close"]
    reached = path["won_path"] | (path["last_pos"] >= 2)
    set_later = np.flatnonzero((price0 == 0) & reached & (rng.random(n) < 0.85))
    edited = np.flatnonzero((price0 > 0) & (rng.random(n) < 0.12))
    t_set = created[set_later] + (rng.uniform(0.3, 0.9, len(set_later))
                                  * (base_close[set_later] - created[set_later])).astype(np.int64)
    life_end = path["life_end"]
    t_edit = created[edited] + (rng.uniform(0.05, 0.95, len(edited))
                                * (life_end[edited] - created[edited])).astype(np.int64)
    v_edit = (price0[edited] * rng.uniform(0.7, 1.3, len(edited)) / 500).round().astype(np.int64) * 500
    lead = np.concatenate([set_later, edited])
    time = np.concatenate([t_set, t_edit])
    price = np.concatenate([_price(rng, len(set_later)), v_edit])
    keep = time <= end
    lead, time, price = lead[keep], time[keep], price[keep]
    return price0.astype(np.int64), Log(lead, time, price=price, by=actor(rng, resp_at(lead, time), 0.05))


def _price(rng, size: int) -> np.ndarray:
    """Deal value in RUB: log-normal around 120k, 10k..2M, rounded to 500."""
    p = np.clip(rng.lognormal(np.log(120_000), 1.0, size), 10_000, 2_000_000)
    return (p / 500).round().astype(np.int64) * 500


NPS_WEIGHTS = np.array([2, 1, 2, 3, 3, 5, 7, 12, 20, 22, 23], dtype=float)


def _scores(rng, path, final_won, end):
    """NPS ratings (events) on some won leads, the satisfaction field on some others."""
    won = np.flatnonzero(final_won)
    u = rng.random(len(won))
    score = rng.choice(11, len(won), p=NPS_WEIGHTS / NPS_WEIGHTS.sum())
    t = path["last_time"][won] + rng.integers(HOUR, 10 * DAY, len(won))
    nps, sat = (u < 0.3) & (t <= end), (u >= 0.3) & (u < 0.6) & (t <= end)
    sat_log = Log(won[sat], t[sat], value=score[sat], by=np.zeros(int(sat.sum()), dtype=np.int64))
    return sat_log, dict(lead=won[nps], time=t[nps], rate=score[nps])


def _trash(rng, last_change, end, share, actor):
    """Deletions after an entity's last change, and restores of some of them. Returns the log and deleted_at."""
    n = len(last_change)
    deleted = np.flatnonzero(rng.random(n) < share)
    t_del = np.maximum(last_change[deleted], 0) + rng.integers(DAY, 60 * DAY, len(deleted))
    ok = t_del <= end
    deleted, t_del = deleted[ok], t_del[ok]
    restored = rng.random(len(deleted)) < 0.25
    t_res = t_del[restored] + rng.integers(HOUR, 10 * DAY, int(restored.sum()))
    ok = t_res <= end
    lead = np.concatenate([deleted, deleted[restored][ok]])
    time = np.concatenate([t_del, t_res[ok]])
    flag = np.concatenate([np.ones(len(deleted), bool), np.zeros(int(ok.sum()), bool)])
    deleted_at = np.full(n, NEVER, dtype=np.int64)
    deleted_at[deleted] = t_del
    none = np.zeros(len(lead), bool)
    return Log(lead, time, deleted=flag, merged=none, purged=none, by=actor(lead, time)), deleted_at


def _people_changes(rng, contacts, companies, end):
    m, k = len(contacts["created"]), len(companies["created"])
    edited = np.flatnonzero(rng.random(m) < 0.1)
    t_edit = contacts["created"][edited] + rng.integers(DAY, 120 * DAY, len(edited))
    ok = t_edit <= end
    edits = Log(edited[ok], t_edit[ok], by=USER_IDS[rng.choice(ACTIVE_USERS, int(ok.sum()))])

    def actor(ent, t):
        return USER_IDS[rng.choice(ACTIVE_USERS, len(ent))]

    last_c = contacts["created"].copy()
    np.maximum.at(last_c, edits.entity, edits.time)
    contact_trash, _ = _trash(rng, last_c, end, 0.005, actor)
    company_trash, _ = _trash(rng, companies["created"], end, 0.003, actor)
    return edits, contact_trash, company_trash
