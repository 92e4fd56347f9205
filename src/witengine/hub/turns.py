"""Work that grows with a map's size, done a slice at a time with the event loop turning between
slices: a hub storing, hashing or estimating a map of a million items still answers its API and
its nodes meanwhile (one go of it stopped them for seconds).

A slice of `ITEMS_PER_TURN` items costs a few milliseconds of any such work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

ITEMS_PER_TURN = 1_000

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
