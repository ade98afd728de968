"""The embedded default: the amoCRM simulator, started in-process when no amoCRM setting exists at all.

The only product module that imports `pipelines.simulator`. The account is
generated once per data folder (fixed seed, size and scenarios) and its clock
moves with real time since that folder first used it
(`<data>/embedded_simulator.json`), so successive runs see one consistent,
evolving account: new leads, status changes, deletions... exactly what
incremental runs must pick up.

The account turns on the simulator scenario `first_response` (managers answer
new leads at a pace of their own), so the response-speed KPIs of a demo look
like a real sales team's. A data folder recorded before that (its state file has
no `scenarios`) keeps the account it was loaded from, without the scenario: a
different account under the same warehouse would mix two histories. That is said
loudly (`outdated_note`), with what to do to get the current demo account.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from typing import Any

from pipelines import paths

SEED = 7
LEADS = 3_000
HORIZON_DAYS = 365
SCENARIOS = ("first_response",)
STATE_FILE = "embedded_simulator.json"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_running: dict[str, object] = {}


def start() -> tuple[str, str]:
    """Start the simulator once per process; returns (base_url, long-lived token)."""
    from pipelines.simulator import SimulatedAccount, Simulator

    with _lock:
        key = str(paths.data_dir())
        state = _state()
        sim = _running.get(key)
        if sim is None:
            note = outdated_note()
            if note:
                log.warning(note)
            account = SimulatedAccount.generate(seed=state["seed"], leads=state["leads"], now=state["now"],
                                                horizon_days=HORIZON_DAYS, scenarios=scenarios(state))
            sim = Simulator(account, rate_limit=7)
            sim.__enter__()
            atexit.register(sim.__exit__, None, None, None)
            _running[key] = sim
        elapsed = int(time.time()) - state["now"]
        sim.clock.set(state["now"] + min(max(elapsed, 0), HORIZON_DAYS * 86_400))
        return sim.base_url, sim.long_lived_token


def is_embedded(base_url: str) -> bool:
    """Whether `base_url` is a simulator this process started (its data is demo data)."""
    with _lock:
        return any(getattr(sim, "base_url", None) == base_url.rstrip("/") for sim in _running.values())


def scenarios(state: dict[str, Any]) -> tuple[str, ...]:
    """The scenarios of a recorded account: none for a folder recorded before they were recorded."""
    return tuple(state.get("scenarios", ()))


def outdated_note() -> str | None:
    """A warning when this data folder's embedded account lacks scenarios today's demo turns on, else None."""
    path = paths.data_dir() / STATE_FILE
    if not path.exists():
        return None
    missing = [s for s in SCENARIOS if s not in scenarios(_state())]
    if not missing:
        return None
    return (f"The demo data in {path.parent} comes from an older simulated account without the scenario "
            f"{', '.join(missing)}: its response-speed KPIs (first response, SLA share) are not realistic. "
            f"It is kept as it was. To get the current demo account, delete everything in {path.parent} "
            f"but your CSV inputs (marketing_spend.csv, sales_targets.csv) and run `make demo` again.")


def _state() -> dict[str, Any]:
    """The account's parameters, fixed when this data folder first used the simulator."""
    path = paths.data_dir() / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        state = {"seed": SEED, "leads": LEADS, "now": int(time.time()), "scenarios": list(SCENARIOS)}
        path.write_text(json.dumps(state))
        return state
