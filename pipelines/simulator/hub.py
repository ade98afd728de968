"""`Simulators`: several simulated amoCRM accounts served at once, one loopback port each.

Each account is its own `Simulator`, so it has its own 7 requests/s limit, tokens, faults,
stats and clock, as separate amoCRM accounts do. Accounts are told apart by port, not by
Host header: a base_url may not carry a path, and `*.localhost` names do not resolve everywhere.

    with Simulators.generate(derived_specs(2, seed=7, leads=200), now=NOW) as hub:
        os.environ.update(hub.env())   # SOURCES__AMOCRM__ACCOUNTS__ACC1__BASE_URL, ...
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from .account import SimulatedAccount
from .profiles import AccountSpec, check_key
from .server import Simulator
from .truth import Truth


class Simulators:
    """`accounts` maps config keys to accounts; `first_port` 0 takes free ports, else `first_port`, `+1`, ...

    Other keyword arguments (`rate_limit`, `block_after`, ...) go to every `Simulator`; `latency_ms`
    slows every answer of every account (a `faults.reset()` clears it for that account).
    """

    def __init__(self, accounts: Mapping[str, SimulatedAccount], *, host: str = "127.0.0.1", first_port: int = 0,
                 latency_ms: int = 0, **simulator_options):
        if not accounts:
            raise ValueError("Simulators needs at least one account")
        for key in accounts:
            check_key(key)
        _refuse_duplicates(accounts)
        self.latency_ms = int(latency_ms)
        self.simulators: dict[str, Simulator] = {
            key: Simulator(account, host=host, port=first_port + n if first_port else 0, **simulator_options)
            for n, (key, account) in enumerate(accounts.items())}

    @classmethod
    def generate(cls, specs: Iterable[AccountSpec], now: int | None = None, horizon_days: int = 60,
                 shapes: str = "live", **options) -> "Simulators":
        """Generate each spec's account (all at the same simulated `now`) and serve them."""
        accounts: dict[str, SimulatedAccount] = {}
        for spec in specs:
            if spec.key in accounts:
                raise ValueError(f"account key {spec.key!r} is given twice")
            accounts[spec.key] = SimulatedAccount.generate(seed=spec.seed, leads=spec.leads, now=now,
                                                           horizon_days=horizon_days, shapes=shapes,
                                                           profile=spec.profile)
        return cls(accounts, **options)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "Simulators":
        started: list[Simulator] = []
        try:
            for sim in self.simulators.values():
                sim.faults.latency_ms = self.latency_ms
                started.append(sim.start())
        except BaseException:
            for sim in started:  # a taken port must not leave the others serving
                sim.stop()
            raise
        return self

    def stop(self) -> None:
        for sim in self.simulators.values():
            sim.stop()

    def __enter__(self) -> "Simulators":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getitem__(self, key: str) -> Simulator:
        return self.simulators[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.simulators)

    def __len__(self) -> int:
        return len(self.simulators)

    # -- all accounts -----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The extractor's settings for every account, as environment variables (dlt's `__` paths)."""
        out: dict[str, str] = {}
        for key, sim in self.simulators.items():
            prefix = f"SOURCES__AMOCRM__ACCOUNTS__{key.upper()}__"
            out[prefix + "BASE_URL"] = sim.base_url
            out[prefix + "ACCESS_TOKEN"] = sim.long_lived_token
        return out

    def truths(self) -> dict[str, Truth]:
        """Each account's ground truth at its own simulated now."""
        return {key: sim.truth() for key, sim in self.simulators.items()}

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> dict[str, int]:
        """Move every account's clock by the same amount; returns each one's new now."""
        return {key: sim.clock.advance(days, hours, minutes, seconds) for key, sim in self.simulators.items()}


def _refuse_duplicates(accounts: Mapping[str, SimulatedAccount]) -> None:
    """Two keys serving one amoCRM account id or subdomain would be one account twice: refuse it."""
    for field in ("account_id", "subdomain"):
        seen: dict[object, str] = {}
        for key, account in accounts.items():
            value = getattr(account.profile, field)
            if value in seen:
                raise ValueError(f"accounts {seen[value]!r} and {key!r} have the same {field} {value!r}; "
                                 "give each its own profile (profiles.derived_profile)")
            seen[value] = key
