"""Slowing down failed authentication, per key, in bounded memory. Pure: the caller passes the
time in and does the waiting.

The gate's key is a client address with the token a request names (one key per address for the
malformed tokens and those naming no token), so that guessing slows the guesser and not a
valid token from the same address. Each failure of a key doubles the wait before its next
presented token is checked (50 ms, 100 ms, … up to `cap`), and waits queue one after another,
so guesses of one key cannot run in parallel. A key quiet for `forget_after` seconds starts
afresh. Requests without a token are not counted: they guess nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Key:
    failures: int = 0
    last_failure: float = 0.0
    next_turn: float = 0.0  # when the next check of this key may run


class FailedAuthThrottle:
    def __init__(
        self,
        *,
        first: float = 0.05,
        cap: float = 2.0,
        forget_after: float = 60.0,
        max_queue: float = 10.0,
        max_keys: int = 4096,
    ) -> None:
        self.first = first
        self.cap = cap
        self.forget_after = forget_after
        self.max_queue = max_queue  # beyond this wait, refuse at once (429) instead of queueing
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.first * 2 ** (failures - 1), self.cap)

    def wait_before_check(self, key: str, now: float) -> float | None:
        """Seconds to wait before checking a token of `key` (0: at once), taking the key's turn;
        None when the queue is too long and the request should be refused."""
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        if now - entry.last_failure > self.forget_after:
            del self._keys[key]
            return 0.0
        turn = max(now, entry.next_turn)
        if turn - now > self.max_queue:
            return None
        entry.next_turn = turn + self.delay(entry.failures)
        return entry.next_turn - now

    def failed(self, key: str, now: float) -> None:
        entry = self._keys.pop(key, None) or _Key()
        if now - entry.last_failure > self.forget_after:
            entry.failures = 0
        entry.failures += 1
        entry.last_failure = now
        self._keys[key] = entry  # most recent last
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def failures(self, key: str) -> int:
        entry = self._keys.get(key)
        return entry.failures if entry else 0

    def __len__(self) -> int:
        return len(self._keys)
