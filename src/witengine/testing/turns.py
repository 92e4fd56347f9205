"""Counting the turns of the event loop while some work runs: whether work that holds the loop
lets it turn (the API and the nodes answered meanwhile)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass
class Turns:
    counted: int = 0


@contextlib.asynccontextmanager
async def turns_counted() -> AsyncIterator[Turns]:
    """The turns the loop took while the block ran (a task counts one at each)."""
    turns = Turns()

    async def count() -> None:
        while True:
            turns.counted += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    try:
        yield turns
    finally:
        counter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counter
