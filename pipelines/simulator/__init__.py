"""A simulated amoCRM API v4 account: the embedded default and the test double.

`SimulatedAccount.generate(...)` draws a deterministic account timeline;
`Simulator(account)` serves it over real HTTP on loopback; `truth()` gives the
ground truth as DataFrames; `Simulators` serves several accounts at once (each
with its own `AccountProfile`). See docs/design.md §2.
"""

from .account import SimulatedAccount
from .auth import OAuthApp
from .hub import Simulators
from .reference import DEFAULT_PROFILE, AccountProfile
from .server import Simulator
from .truth import Truth

__all__ = ["SimulatedAccount", "Simulator", "Simulators", "Truth", "OAuthApp", "AccountProfile", "DEFAULT_PROFILE"]
