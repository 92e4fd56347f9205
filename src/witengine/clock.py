"""Time as a parameter: the `Clock` protocol and the real `SystemClock`.

Nothing in the pure centre reads the clock; shells receive a `Clock` and tests pass a fake one
(see `witengine.testing.clock.FakeClock`).
"""

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time in seconds and a way to wait on it."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def wall_time() -> float:
    """Seconds since the epoch, for timestamps people read (never for measuring time)."""
    return time.time()
