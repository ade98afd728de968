"""Scenario `first_response`: every manager answers new leads at a pace of their own.

Most live leads get a first outgoing touch a while after creation: the delay is drawn around the
responsible manager's own median (`MEDIAN_MINUTES`, by the user's position in reference.USERS), so
response speed differs per manager. The touch is an outgoing call on the lead, an outgoing call on
the lead's main contact (answered on a contact instead of the lead) or an outgoing e-mail on the lead.
`NEVER_SHARE` of the leads get none (with the default activity they may still be touched later, or
never). `AUTO_MAIL_SHARE` of the leads also get an automatic outgoing e-mail a minute after creation,
sent by the system (`created_by: 0`, as the digital pipeline sends them): no response by a person. The notes are added to the default ones, which are then re-sorted by time (note ids follow).
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .activity import CALL_OUT, CONTACT, LEAD, MAIL
from .log import _columns

MEDIAN_MINUTES = (4, 9, 25, 70, 180, 12, 40, 300)
NEVER_SHARE = 0.15
ON_CONTACT_SHARE, MAIL_SHARE = 0.2, 0.25
AUTO_MAIL_SHARE = 0.2
_USER_IDS = np.array([u.id for u in ref.USERS], dtype=np.int64)


def median_minutes(user_ids: np.ndarray) -> np.ndarray:
    """The median first-response delay (minutes) of each user id."""
    position = np.searchsorted(np.sort(_USER_IDS), user_ids)
    return np.asarray(MEDIAN_MINUTES, dtype=float)[position % len(MEDIAN_MINUTES)]


def add(rng: np.random.Generator, notes: dict, created: np.ndarray, window_end: np.ndarray, resp_at,
        main_contact: np.ndarray) -> dict:
    """`notes` with one first-touch note for most leads, re-sorted by time."""
    n = len(created)
    lead = np.arange(n)
    by = resp_at(lead, created)
    delay = (rng.lognormal(0.0, 0.8, n) * median_minutes(by) * 60).astype(np.int64) + 30
    time = created + delay
    keep = (rng.random(n) >= NEVER_SHARE) & (time < window_end)
    auto = np.flatnonzero((rng.random(n) < AUTO_MAIL_SHARE) & (created + 60 < window_end))
    lead, time = np.r_[lead[keep], auto], np.r_[time[keep], created[auto] + 60]
    robot = np.r_[np.zeros(keep.sum(), bool), np.ones(len(auto), bool)]
    by = resp_at(lead, time)
    k = len(lead)
    draw = rng.random(k)
    on_contact = (draw < ON_CONTACT_SHARE) & (main_contact[lead] >= 0) & ~robot
    mail = (~on_contact & (draw > 1 - MAIL_SHARE)) | robot
    added = dict(
        lead=lead, created=time, kind=np.where(on_contact, CONTACT, LEAD),
        entity=np.where(on_contact, main_contact[lead], lead), type=np.where(mail, MAIL, CALL_OUT),
        created_by=np.where(robot, 0, by), responsible=by,
        duration=np.where(mail, 0, np.clip(rng.lognormal(np.log(90), 0.8, k), 5, 1800)).astype(np.int32),
        call_status=np.where(mail, 3, 4), outgoing=np.ones(k, bool), variant=rng.integers(0, 1 << 30, k),
    )
    merged = {name: np.concatenate([notes[name], added[name]]) for name in notes}
    return _columns(merged, np.argsort(merged["created"], kind="stable"), ("created",))
