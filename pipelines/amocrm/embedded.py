"""The embedded default: the amoCRM simulator, started in-process when no amoCRM setting exists at all.

The only product module that imports `pipelines.simulator`. The account is
generated once per data folder (fixed seed and size) and its clock moves with
real time since that folder first used it (`<data>/embedded_simulator.json`), so
successive runs see one consistent, evolving account: new leads, status
changes, deletions... exactly what incremental runs must pick up.
"""

from __future__ import annotations

import atexit
import json
import threading
import time

from pipelines import paths

SEED = 7
LEADS = 3_000
HORIZON_DAYS = 365
STATE_FILE = "embedded_simulator.json"

_lock = threading.Lock()
_running: dict[str, object] = {}


def start() -> tuple[str, str]:
    """Start the simulator once per process; returns (base_url, long-lived token)."""
    from pipelines.simulator import SimulatedAccount, Simulator

    with _lock:
        key = str(paths.data_dir())
        sim = _running.get(key)
        if sim is None:
            state = _state()
            account = SimulatedAccount.generate(seed=state["seed"], leads=state["leads"], now=state["now"],
                                                horizon_days=HORIZON_DAYS)
            sim = Simulator(account, rate_limit=7)
            sim.__enter__()
            atexit.register(sim.__exit__, None, None, None)
            _running[key] = sim
        elapsed = int(time.time()) - _state()["now"]
        sim.clock.set(_state()["now"] + min(max(elapsed, 0), HORIZON_DAYS * 86_400))
        return sim.base_url, sim.long_lived_token


def is_embedded(base_url: str) -> bool:
    """Whether `base_url` is a simulator this process started (its data is demo data)."""
    with _lock:
        return any(getattr(sim, "base_url", None) == base_url.rstrip("/") for sim in _running.values())


def _state() -> dict[str, int]:
    """The account's parameters, fixed when this data folder first used the simulator."""
    path = paths.data_dir() / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        state = {"seed": SEED, "leads": LEADS, "now": int(time.time())}
        path.write_text(json.dumps(state))
        return state
