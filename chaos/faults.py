"""The fault kinds the campaign injects: one table entry each, name -> how to arm it on a simulator.

An entry names the simulator control it needs (`requires`). When the running
simulator lacks it (a bad-page shape added on another branch, not merged yet),
the kind is skipped and the campaign prints it as SKIPPED in its table: a kind
never silently drops out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

# List endpoints the extractor pages through; path-targeted faults pick one.
LIST_PATHS = ("/api/v4/leads", "/api/v4/contacts", "/api/v4/companies", "/api/v4/events",
              "/api/v4/leads/notes", "/api/v4/tasks")


@dataclass(frozen=True)
class FaultKind:
    name: str
    requires: str  # attribute of `Simulator.faults` the kind arms
    arm: Callable[[Any, random.Random], str]  # (faults, rng) -> what was armed, for the log
    per_run: bool = False  # a switch left on for the whole run, turned off after it

    def available(self, faults: Any) -> bool:
        return hasattr(faults, self.requires)


def _path(rng: random.Random) -> str:
    return rng.choice(LIST_PATHS)


def _storm(f, rng):
    # consecutive 429s cost the client exponential backoff each (about 17 s for 6): a storm, not a siege
    n = rng.randint(3, 6)
    f.storm_429(n)
    return f"{n} x 429"


def _burst(statuses):
    def arm(f, rng):
        n, status, path = rng.randint(2, 4), rng.choice(statuses), _path(rng)
        f.fail_next(n, status=status, path=path)
        return f"{n} x {status} on {path}"
    return arm


def _spike(f, rng):
    n, ms, path = rng.randint(1, 3), rng.randint(500, 3000), _path(rng)
    f.spike_next(n, ms, path=path)
    return f"{n} x +{ms} ms on {path}"


def _reset(f, rng):
    n, path = rng.randint(1, 3), _path(rng)
    f.reset_next(n, path=path)
    return f"{n} x RST on {path}"


def _malformed(kind):
    def arm(f, rng):
        path = _path(rng)
        f.malformed_next(1, kind=kind, path=path)
        return f"{kind} body on {path}"
    return arm


def _next_rule(control):
    """A bad-page shape armed as `faults.<control>(n, path)`."""
    def arm(f, rng):
        path = _path(rng)
        getattr(f, control)(1, path=path)
        return f"{control}(1) on {path}"
    return arm


def _events_cap(f, rng):
    f.events_page_cap = 100
    return "events capped at 100 per page"


def _edit_while_paging(f, rng):
    f.mutate_while_paging = True
    return "a lead edited on every list page"


KINDS: tuple[FaultKind, ...] = (
    FaultKind("429_storm", "storm_429", _storm),
    FaultKind("5xx_burst", "fail_next", _burst((500, 502, 503))),
    FaultKind("504_burst", "fail_next", _burst((504,))),
    FaultKind("latency_spike", "spike_next", _spike),
    FaultKind("connection_reset", "reset_next", _reset),
    FaultKind("truncated_json", "malformed_next", _malformed("truncated")),
    FaultKind("invalid_json", "malformed_next", _malformed("invalid_json")),
    # Bad-page shapes that look like the end of a list (pipelines/simulator/faults.py).
    FaultKind("empty_200", "empty_200_next", _next_rule("empty_200_next")),
    FaultKind("page_without_embedded", "no_embedded_next", _next_rule("no_embedded_next")),
    FaultKind("short_page_without_next", "short_page_next", _next_rule("short_page_next")),
    FaultKind("events_capped_100", "events_page_cap", _events_cap, per_run=True),
    FaultKind("edit_while_paging", "mutate_while_paging", _edit_while_paging, per_run=True),
)

BY_NAME = {kind.name: kind for kind in KINDS}



def switches(faults: Any) -> dict[str, Any]:
    """The current values of the run-long switches, to put back after a faulted run."""
    return {k.requires: getattr(faults, k.requires) for k in KINDS if k.per_run and k.available(faults)}
