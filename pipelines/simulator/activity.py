"""Activities hanging off the leads: call, e-mail and common notes and tasks (chat messages: chats.py).

Each is drawn per lead as a Poisson number of events at uniform times within the lead's
active window; rows are sorted by time, and a row's position is its entity id offset.
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .log import _columns

DAY = 86_400
HOUR = 3_600
NEVER = np.iinfo(np.int64).max
# note types, entity kinds
CALL_IN, CALL_OUT, MAIL, COMMON = 0, 1, 2, 3
NOTE_TYPES = ("call_in", "call_out", "amomail_message", "common")
LEAD, CONTACT, COMPANY = 0, 1, 2
CUSTOMER = 4  # events only (3 is a task, see events.ENTITY_KINDS)


def actor(rng, users: np.ndarray, robot_share: float) -> np.ndarray:
    """The user doing a change, or 0 (a robot / the system) for a share of them."""
    return np.where(rng.random(len(users)) < robot_share, 0, users).astype(np.int64)


def _activity_times(rng, created, window_end, rate_per_day: float, floor: float):
    """Repeat each lead Poisson(floor + rate * active days) times, at uniform times within its active window."""
    span = np.maximum(window_end - created, 60)
    counts = rng.poisson(floor + rate_per_day * np.minimum(span / DAY, 60))
    lead = np.repeat(np.arange(len(created)), counts)
    time = created[lead] + (rng.random(len(lead)) * span[lead]).astype(np.int64)
    return lead, time


def notes(rng, created, window_end, resp_at, main_contact, contacts):
    """Call, e-mail and common notes; each row's id is NOTE_ID_BASE + its position (ordered by time)."""
    c_lead, c_time = _activity_times(rng, created, window_end, 0.12, 0.4)
    m_lead, m_time = _activity_times(rng, created, window_end, 0.04, 0.3)
    n_lead, n_time = _activity_times(rng, created, window_end, 0.01, 0.15)
    nc, nm, nn = len(c_lead), len(m_lead), len(n_lead)
    lead = np.concatenate([c_lead, m_lead, n_lead])
    time = np.concatenate([c_time, m_time, n_time])
    outgoing = np.concatenate([rng.random(nc) < 0.65, rng.random(nm) < 0.6, np.ones(nn, bool)])
    ntype = np.concatenate([np.where(outgoing[:nc], CALL_OUT, CALL_IN), np.full(nm, MAIL), np.full(nn, COMMON)])
    resp = resp_at(lead, time)
    author = np.where(outgoing, resp, np.where((ntype == CALL_IN) & (rng.random(len(lead)) < 0.7), resp, 0))
    # some calls and e-mails sit on the lead's contact (as on live accounts), a few common notes on its company
    mc = main_contact[lead]
    on_contact = (mc >= 0) & (ntype <= MAIL) & (rng.random(len(lead)) < 0.12)
    company = np.where(mc >= 0, contacts["company"][np.maximum(mc, 0)], -1)
    on_company = (company >= 0) & (ntype == COMMON) & (rng.random(len(lead)) < 0.3)
    kind = np.where(on_contact, CONTACT, np.where(on_company, COMPANY, LEAD))
    entity = np.where(on_contact, mc, np.where(on_company, company, lead))
    connected = rng.random(len(lead)) < 0.75
    duration = np.where((ntype <= CALL_OUT) & connected,
                        np.clip(rng.lognormal(np.log(120), 1.0, len(lead)), 5, 3600), 0).astype(np.int32)
    call_status = np.where(duration > 0, 4, rng.choice([3, 6, 7], len(lead))).astype(np.int8)
    order = np.argsort(time, kind="stable")
    cols = dict(lead=lead, created=time, kind=kind, entity=entity, type=ntype, created_by=author,
                responsible=resp, duration=duration, call_status=call_status, outgoing=outgoing,
                variant=rng.integers(0, 1 << 30, len(lead)))
    return _columns(cols, order, ("created",))


def tasks(rng, created, window_end, resp_at, main_contact, end):
    f_lead, f_time = _activity_times(rng, created, window_end, 0.03, 0.6)
    m_lead, m_time = _activity_times(rng, created, window_end, 0.015, 0.15)
    c_lead, c_time = _activity_times(rng, created, window_end, 0.01, 0.25)
    lead = np.concatenate([f_lead, m_lead, c_lead])
    time = np.concatenate([f_time, m_time, c_time])
    ttype = np.concatenate([np.full(len(f_lead), ref.FOLLOW_UP), np.full(len(m_lead), ref.MEETING),
                            np.full(len(c_lead), ref.CALL)])
    t = len(lead)
    resp = resp_at(lead, time)
    complete_till = time + rng.integers(2 * HOUR, 5 * DAY, t)
    done_at = time + (rng.uniform(0.1, 1.4, t) * (complete_till - time)).astype(np.int64)
    completed_at = np.where((rng.random(t) < 0.78) & (done_at <= end), done_at, NEVER)
    mc = main_contact[lead]
    on_contact = (mc >= 0) & (rng.random(t) < 0.1)
    order = np.argsort(time, kind="stable")
    cols = dict(lead=lead, created=time, kind=np.where(on_contact, CONTACT, LEAD),
                entity=np.where(on_contact, mc, lead), type=ttype, responsible=resp,
                created_by=actor(rng, resp, 0.15), complete_till=complete_till, completed_at=completed_at,
                duration=np.where(ttype == ref.MEETING, 3600, 0).astype(np.int32))
    return _columns(cols, order, ("created", "complete_till", "completed_at"))
