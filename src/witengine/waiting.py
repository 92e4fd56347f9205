"""Waiting in loops that must stop when cancelled: with a time limit (`within`), and with
back-off between tries (`Backoff`).

On Python 3.11, `asyncio.wait_for` loses a cancellation that arrives in the same turn as the
thing it waits for (CPython gh-86296, fixed in 3.12): it returns as if nothing happened, and a
`while True` loop built on it goes on for ever, holding up whatever waits for it to stop (a hub's
shutdown, a node's). `within` waits with `asyncio.timeout`, which never loses one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable


async def within(seconds: float, awaitable: Awaitable[object]) -> bool:
    """Await `awaitable` for at most `seconds`: True when it finished, False when the time ran
    out first. A cancellation always propagates."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True


class Backoff:
    """The waits between tries to reach something that is away: from `first` seconds, doubled
    after each try up to `longest`, each by ±20 % at random, so that the nodes that lost one hub
    do not all call it again at the same instant."""

    def __init__(self, longest: float, first: float = 0.25) -> None:
        self.first = first
        self.longest = longest
        self.seconds = first  # the next wait, before its chance share

    async def wait(self) -> None:
        await asyncio.sleep(self.seconds * random.uniform(0.8, 1.2))
        self.seconds = min(self.seconds * 2, self.longest)

    def reset(self) -> None:
        self.seconds = self.first
