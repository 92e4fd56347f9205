"""`FakeClock`: a `Clock` whose time moves only when a test says so, or when everything sleeps.

Time is kept in whole nanoseconds, so adding 0.1 s three times gives exactly 0.3 s. A sleeper
waits until the clock reaches its deadline. `advance()` moves time by hand and wakes whoever is
due; with `autojump=True` the clock jumps by itself to the next deadline once the event loop has
settled with everyone asleep, so Delay, Timer and Pause finish at once without real sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import TYPE_CHECKING

from witengine.clock import Clock

_NANOS = 1_000_000_000
_SETTLE_ROUNDS = 20  # event-loop turns the autojump waits for others to go to sleep too


class FakeClock:
    """A `Clock` for tests: `now()` moves only by `advance()`, `jump()` or autojump."""

    def __init__(self, start: float = 0.0, *, autojump: bool = False) -> None:
        self._now = round(start * _NANOS)
        self.autojump = autojump
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._jumper: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self.slept: list[float] = []  # every sleep asked for, in seconds, in order

    # ------------------------------------------------------------ Clock

    def now(self) -> float:
        return self._now / _NANOS

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + round(seconds * _NANOS)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        self._notify()
        if self.autojump and (self._jumper is None or self._jumper.done()):
            self._jumper = asyncio.get_running_loop().create_task(self._autojump())
        try:
            await future
        finally:
            self._notify()

    # ---------------------------------------------------------- driving

    @property
    def sleeping(self) -> int:
        """How many sleepers wait for a deadline now."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_deadline(self) -> float | None:
        """The earliest deadline of a sleeper, or None when nobody sleeps."""
        self._drop_done()
        return self._sleepers[0][0] / _NANOS if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        self._now += round(seconds * _NANOS)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def jump(self) -> bool:
        """Move time to the earliest deadline and wake who is due; False when nobody sleeps."""
        self._drop_done()
        if not self._sleepers:
            return False
        self.advance(max(0, self._sleepers[0][0] - self._now) / _NANOS)
        return True

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until at least `count` sleepers wait on this clock (bound by the test timeout)."""
        while self.sleeping < count:
            await self._event().wait()
            self._event().clear()

    # --------------------------------------------------------- internals

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _drop_done(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def _autojump(self) -> None:
        """Jump to the next deadline each time the loop has settled, until nobody sleeps."""
        while True:
            for _ in range(_SETTLE_ROUNDS):
                await asyncio.sleep(0)
            if not self.jump():
                return


if TYPE_CHECKING:
    _twin: type[Clock] = FakeClock  # mypy checks here that a FakeClock is a Clock
