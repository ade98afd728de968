"""A simulated amoCRM API v4 account: the embedded default and the test double.

`SimulatedAccount.generate(...)` draws a deterministic account timeline;
`Simulator(account)` serves it over real HTTP on loopback; `truth()` gives the
ground truth as DataFrames. See docs/design.md §2.
"""

from .account import SimulatedAccount
from .auth import OAuthApp
from .server import Simulator
from .truth import Truth

__all__ = ["SimulatedAccount", "Simulator", "Truth", "OAuthApp"]
