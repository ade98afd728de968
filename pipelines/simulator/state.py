"""The account as it looks at one moment T: the timeline folded up to T, as columns.

Only rows created at or before T exist (entities are stored in creation order, so
that is a prefix); each field takes its latest change at or before T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import reference as ref
from .generator import USER_IDS, Timeline

GROUP_OF_USER = np.array([u.group_id for u in ref.USERS], dtype=np.int64)
TERMINAL = (ref.WON, ref.LOST)


def group_of(users: np.ndarray) -> np.ndarray:
    """Group id of each user id (0 for the system user 0)."""
    idx = np.searchsorted(USER_IDS, users)
    known = (idx < len(USER_IDS)) & (USER_IDS[np.minimum(idx, len(USER_IDS) - 1)] == users)
    return np.where(known, GROUP_OF_USER[np.minimum(idx, len(USER_IDS) - 1)], 0)


@dataclass
class State:
    at: int
    leads: dict[str, np.ndarray]
    contacts: dict[str, np.ndarray]
    companies: dict[str, np.ndarray]
    tasks: dict[str, np.ndarray]
    lead_contacts: dict[str, np.ndarray]  # links whose contact exists and is not deleted, sorted by lead
    n_notes: int
    memo: dict = field(default_factory=dict)  # query results over this state, kept by the API


def _latest(*candidates: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per entity, the (time, who) of the latest of several changes (time -1 = no change)."""
    times = np.vstack([c[0] for c in candidates])
    who = np.vstack([c[1] for c in candidates])
    pick = times.argmax(0)
    cols = np.arange(times.shape[1])
    return times[pick, cols], who[pick, cols]


def _column(log, rows: np.ndarray, name: str | None, default) -> np.ndarray:
    """Per entity, the log's column (or time) at `rows`, or `default` where rows is -1."""
    values = log.time if name is None else log[name]
    if len(values) == 0:
        return np.full(len(rows), default)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], default)


def _trash_state(log, n: int, at: int):
    """(is_deleted, deleted_at, deleted_by, restored_at, restored_by) per entity at `at`."""
    rows = log.last_at(at, n)
    deleted = _column(log, rows, "deleted", False).astype(bool)
    time = _column(log, rows, None, -1)
    by = _column(log, rows, "by", 0)
    return deleted, np.where(deleted, time, -1), np.where(deleted, by, 0), np.where(deleted, -1, time), by


def _in_trash(log, n: int, at: int, deleted: np.ndarray) -> np.ndarray:
    """Deleted entities the trash view lists at `at`: not those merged away or purged (scenarios `merges`,
    `purges`)."""
    rows = log.last_at(at, n)
    gone = _column(log, rows, "merged", False).astype(bool) | _column(log, rows, "purged", False).astype(bool)
    return deleted & ~gone


def _bump(tl: Timeline, restored_at: np.ndarray) -> np.ndarray:
    """When a restore counts as a change (`updated_at`): always, but in scenario `silent_restore`."""
    return np.full_like(restored_at, -1) if "silent_restore" in tl.scenarios else restored_at


def compute(tl: Timeline, at: int) -> State:
    leads = tl.leads
    n = int(np.searchsorted(leads["created"], at, side="right"))
    created = leads["created"][:n]
    st = tl.status_log
    s_rows = st.last_at(at, n)
    status, pipeline = st["status"][s_rows], st["pipeline"][s_rows]
    status_time, status_by = st.time[s_rows], st["by"][s_rows]

    p_rows = tl.price_log.last_at(at, n)
    price = _column(tl.price_log, p_rows, "price", 0)
    price = np.where(p_rows >= 0, price, leads["price0"][:n])
    r_rows = tl.responsible_log.last_at(at, n)
    responsible = np.where(r_rows >= 0, _column(tl.responsible_log, r_rows, "user", 0), leads["resp0"][:n])
    f_rows = tl.satisfaction_log.last_at(at, n)
    satisfaction = _column(tl.satisfaction_log, f_rows, "value", -1)
    is_deleted, deleted_at, deleted_by, restored_at, restored_by = _trash_state(tl.lead_trash, n, at)

    updated_at, updated_by = _latest(
        (status_time, status_by),
        (_column(tl.price_log, p_rows, None, -1), _column(tl.price_log, p_rows, "by", 0)),
        (_column(tl.responsible_log, r_rows, None, -1), _column(tl.responsible_log, r_rows, "by", 0)),
        (_column(tl.satisfaction_log, f_rows, None, -1), _column(tl.satisfaction_log, f_rows, "by", 0)),
        (_bump(tl, restored_at), restored_by),
    )
    closed = np.isin(status, TERMINAL)
    lead_state = dict(
        created_at=created, created_by=leads["created_by"][:n], status=status, pipeline=pipeline, price=price,
        responsible=responsible, group=group_of(responsible), updated_at=updated_at, updated_by=updated_by,
        closed_at=np.where(closed, status_time, -1),
        loss_reason=np.where(status == ref.LOST, leads["loss_reason"][:n], -1),
        satisfaction=satisfaction, is_deleted=is_deleted, deleted_at=deleted_at, deleted_by=deleted_by,
        in_trash=_in_trash(tl.lead_trash, n, at, is_deleted),
    )

    c = tl.contacts
    nc = int(np.searchsorted(c["created"], at, side="right"))
    e_rows = tl.contact_edits.last_at(at, nc)
    c_deleted, c_deleted_at, c_deleted_by, c_restored_at, c_restored_by = _trash_state(tl.contact_trash, nc, at)
    c_updated_at, c_updated_by = _latest(
        (c["created"][:nc], np.zeros(nc, dtype=np.int64)),
        (_column(tl.contact_edits, e_rows, None, -1), _column(tl.contact_edits, e_rows, "by", 0)),
        (_bump(tl, c_restored_at), c_restored_by),
    )
    contacts = dict(created_at=c["created"][:nc], updated_at=c_updated_at, updated_by=c_updated_by,
                    phone_version=(e_rows >= 0).astype(np.int8), is_deleted=c_deleted, deleted_at=c_deleted_at,
                    deleted_by=c_deleted_by, in_trash=_in_trash(tl.contact_trash, nc, at, c_deleted))

    co = tl.companies
    nk = int(np.searchsorted(co["created"], at, side="right"))
    k_deleted, k_deleted_at, k_deleted_by, k_restored_at, k_restored_by = _trash_state(tl.company_trash, nk, at)
    k_updated_at, k_updated_by = _latest((co["created"][:nk], np.zeros(nk, dtype=np.int64)),
                                         (_bump(tl, k_restored_at), k_restored_by))
    companies = dict(created_at=co["created"][:nk], updated_at=k_updated_at, updated_by=k_updated_by,
                     is_deleted=k_deleted, deleted_at=k_deleted_at, deleted_by=k_deleted_by,
                     in_trash=_in_trash(tl.company_trash, nk, at, k_deleted))

    t = tl.tasks
    nt = int(np.searchsorted(t["created"], at, side="right"))
    done_at = t["completed_at"][:nt]
    is_completed = done_at <= at
    tasks = dict(is_completed=is_completed, updated_at=np.where(is_completed, done_at, t["created"][:nt]),
                 updated_by=np.where(is_completed, t["responsible"][:nt], t["created_by"][:nt]),
                 is_deleted=t["deleted_at"][:nt] <= at)

    lc = tl.lead_contacts
    contact = lc["contact"]
    live = (lc["lead"] < n) & (contact < nc)
    live[live] &= ~c_deleted[contact[live]]
    lead_contacts = {k: v[live] for k, v in lc.items()}
    return State(at=at, leads=lead_state, contacts=contacts, companies=companies, tasks=tasks,
                 lead_contacts=lead_contacts, n_notes=int(np.searchsorted(tl.notes["created"], at, side="right")))

