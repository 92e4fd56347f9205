"""Slowing down failed authentication, per client address, in bounded memory. Pure: the caller
passes the time in and does the waiting.

Each failure from an address doubles the wait before that address's next presented token is
checked (50 ms, 100 ms, … up to `cap`), and waits queue one after another, so guesses from one
address cannot run in parallel. An address quiet for `forget_after` seconds starts afresh.
Requests without a token are not counted: they guess nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Address:
    failures: int = 0
    last_failure: float = 0.0
    next_turn: float = 0.0  # when the next check from this address may run


class FailedAuthThrottle:
    def __init__(
        self,
        *,
        first: float = 0.05,
        cap: float = 2.0,
        forget_after: float = 60.0,
        max_queue: float = 10.0,
        max_addresses: int = 4096,
    ) -> None:
        self.first = first
        self.cap = cap
        self.forget_after = forget_after
        self.max_queue = max_queue  # beyond this wait, refuse at once (429) instead of queueing
        self.max_addresses = max_addresses
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.first * 2 ** (failures - 1), self.cap)

    def wait_before_check(self, address: str, now: float) -> float | None:
        """Seconds to wait before checking a token from `address` (0: at once), taking the
        address's turn; None when the queue is too long and the request should be refused."""
        entry = self._addresses.get(address)
        if entry is None:
            return 0.0
        if now - entry.last_failure > self.forget_after:
            del self._addresses[address]
            return 0.0
        turn = max(now, entry.next_turn)
        if turn - now > self.max_queue:
            return None
        entry.next_turn = turn + self.delay(entry.failures)
        return entry.next_turn - now

    def failed(self, address: str, now: float) -> None:
        entry = self._addresses.pop(address, None) or _Address()
        if now - entry.last_failure > self.forget_after:
            entry.failures = 0
        entry.failures += 1
        entry.last_failure = now
        self._addresses[address] = entry  # most recent last
        while len(self._addresses) > self.max_addresses:
            self._addresses.popitem(last=False)

    def failures(self, address: str) -> int:
        entry = self._addresses.get(address)
        return entry.failures if entry else 0

    def __len__(self) -> int:
        return len(self._addresses)
