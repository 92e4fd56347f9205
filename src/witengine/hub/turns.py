"""Work that grows with a map's size, done a slice at a time with the event loop turning between
slices: a hub storing, hashing or estimating a map of a million items still answers its API and
its nodes meanwhile (one go of it stopped them for seconds).

A slice of `ITEMS_PER_TURN` items costs a few milliseconds of any such work. Work whose steps
differ in cost is done for about `TURN_SECONDS` a turn instead (`Turn`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

ITEMS_PER_TURN = 1_000
# Work that holds the event loop does about this much in one turn, so that the API and the
# nodes wait no longer than a few such turns.
TURN_SECONDS = 0.004

T = TypeVar("T")


async def in_turns(
    items: Sequence[T], start: int = 0, size: int = ITEMS_PER_TURN
) -> AsyncIterator[tuple[int, Sequence[T]]]:
    """(index of its first item, slice) for `items[start:]`, a slice of `size` per turn of
    the event loop (a map of one slice takes no extra turn)."""
    for first in range(start, len(items), size):
        if first > start:
            await asyncio.sleep(0)  # the loop turns between two slices
        yield first, items[first : first + size]


class Turn:
    """Work done in steps for about `seconds` of one turn of the event loop, then the loop
    turns (`next`) and the work goes on in the next turn."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = TURN_SECONDS if seconds is None else seconds
        self._began = time.perf_counter()

    def over(self) -> bool:
        return time.perf_counter() - self._began >= self.seconds

    async def next(self) -> None:
        """Let the loop turn now, and start counting the next turn's time."""
        await asyncio.sleep(0)
        self._began = time.perf_counter()
