"""Fair share between the exchange's buyers: in what order a node's free slots are offered to
the maps that may run on it.

Pure: time is passed in. A map bought on the exchange claims work with its bid's price, its
account, its job's priority and the order it opened in. `order` ranks the claims: the higher
price first (the exchange sells to the best bid); at one price, the account that bought the
least work lately first (its **usage**: a sum of the work units it was given, each decaying
with a half-life, an hour by default), so that one buyer cannot starve the others at equal
price; within one account, the higher priority first; then the older map. `Usage` keeps the
decaying sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

HALF_LIFE = 3600.0  # seconds after which work bought counts half


@dataclass(frozen=True)
class Claim:
    """A map that wants a node's slot."""

    key: str  # the map's id
    account: str  # who pays; "" for a map not on the exchange
    price: int  # its bid, milli-credits a work unit; 0 for a map not on the exchange
    priority: int = 0  # its job's, within its account: higher first
    seq: int = 0  # the order the maps opened in: the older first


def decayed(value: float, elapsed: float, half_life: float = HALF_LIFE) -> float:
    """What `value` counts after `elapsed` seconds (never negative time: none counts as none)."""
    return value * math.pow(0.5, max(elapsed, 0.0) / half_life)


@dataclass
class Usage:
    """Each account's recent usage: the work units it was given, decaying with `half_life`."""

    half_life: float = HALF_LIFE
    _sums: dict[str, tuple[float, float]] = field(default_factory=dict)  # account -> (sum, at)

    def add(self, account: str, work: float, now: float) -> None:
        self._sums[account] = (self.of(account, now) + max(work, 0.0), now)

    def of(self, account: str, now: float) -> float:
        found = self._sums.get(account)
        if found is None:
            return 0.0
        value, at = found
        return decayed(value, now - at, self.half_life)

    def snapshot(self, accounts: Iterable[str], now: float) -> dict[str, float]:
        return {account: self.of(account, now) for account in accounts}


def order(claims: Iterable[Claim], usage: Mapping[str, float]) -> list[str]:
    """The claims' keys in the order their maps are offered a slot (see the module's
    docstring); an account missing from `usage` has used nothing."""
    ranked = sorted(
        claims,
        key=lambda c: (-c.price, usage.get(c.account, 0.0), -c.priority, c.seq),
    )
    return [claim.key for claim in ranked]
