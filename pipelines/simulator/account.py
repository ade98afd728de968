"""`SimulatedAccount`: a generated timeline plus the cached state at each moment asked for."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Iterator

from . import events as ev
from . import generator
from . import reference as ref
from . import shapes as sh
from .state import State, compute
from .truth import Truth


class SimulatedAccount:
    """A deterministic amoCRM account: same (seed, leads, now, horizon_days, history_days), same account.

    Thread-safe: the HTTP server reads it from several threads while a fault may edit it.
    """

    _STATES_KEPT = 4

    def __init__(self, timeline: generator.Timeline, shapes: str = sh.LIVE):
        self.timeline = timeline
        self.shapes = sh.check(shapes)
        self.lock = threading.RLock()
        self._states: OrderedDict[int, State] = OrderedDict()
        self._events: ev.EventIndex | None = None

    @classmethod
    def generate(cls, seed: int = 7, leads: int = 500, now: int | None = None, horizon_days: int = 60,
                 history_days: int = 365, scenarios=frozenset(), shapes: str = sh.LIVE,
                 profile: ref.AccountProfile = ref.DEFAULT_PROFILE) -> "SimulatedAccount":
        """`leads` leads exist at `now` (default: the current hour); the timeline runs `horizon_days` further.
        `scenarios`: opt-in real-account cases (names in scenarios.py), off by default.
        `shapes`: `"live"` (default) serves the shapes captured from live accounts, `"documented"` the
        documentation's (shapes.py); the data is the same.
        `profile`: the account's id, subdomain, timezone and currency (reference.AccountProfile)."""
        now = int(time.time()) // 3600 * 3600 if now is None else int(now)
        return cls(generator.generate(seed, leads, now, horizon_days, history_days, scenarios, profile), shapes)

    @property
    def profile(self) -> ref.AccountProfile:
        return self.timeline.profile

    @property
    def seed(self) -> int:
        return self.timeline.seed

    @property
    def now(self) -> int:
        """The moment the account was generated "up to" (where a simulator's clock starts)."""
        return self.timeline.now

    @property
    def start(self) -> int:
        return self.timeline.start

    @property
    def end(self) -> int:
        """The last moment the timeline covers; a clock cannot move past it."""
        return self.timeline.end

    @property
    def events(self) -> ev.EventIndex:
        with self.lock:
            if self._events is None:
                self._events = ev.build(self.timeline)
            return self._events

    def state(self, at: int | None = None) -> State:
        """The account folded up to `at` (default: `now`), computed once per moment."""
        at = self.now if at is None else int(at)
        with self.lock:
            state = self._states.get(at)
            if state is None:
                state = self._states[at] = compute(self.timeline, at)
                while len(self._states) > self._STATES_KEPT:
                    self._states.popitem(last=False)
            self._states.move_to_end(at)
            return state

    def truth(self, at: int | None = None) -> Truth:
        with self.lock:
            return Truth(self.timeline, self.state(at), lambda: self.events, self.shapes == sh.LIVE)

    def api_records(self, entity: str, at: int | None = None, with_: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record the API would list for `entity` at `at`, in its default order, without HTTP.

        Entities: leads, contacts, companies, events, tasks, notes_leads, notes_contacts, notes_companies,
        leads_deleted, contacts_deleted, companies_deleted (the `with=only_deleted` views), users, pipelines,
        loss_reasons, custom_fields_leads, custom_fields_contacts, custom_fields_companies.
        `with_` is the `with=` parameter (default: everything the entity supports). Links in the
        records are host-relative (`/api/v4/leads/1`), as there is no server.
        """
        from .api import Api  # the API module depends on this one

        yield from Api(self).records(entity, self.now if at is None else int(at), with_)

    def edit_lead_price(self, lead_id: int, at: int, by: int) -> None:
        """A user edits a lead's price at `at`: a real change, with its `sale_field_changed` event."""
        with self.lock:
            i = lead_id - ref.LEAD_ID_BASE
            state = self.state(at)
            old = int(state.leads["price"][i])
            new = int(round(max(old, 10_000) * 1.1 / 500)) * 500
            self.timeline.price_log.append(i, at, price=new, by=by)
            self._states.clear()
            self._events = None
