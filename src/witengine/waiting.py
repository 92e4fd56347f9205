"""Waiting with a time limit in loops that must stop when cancelled.

On Python 3.11, `asyncio.wait_for` loses a cancellation that arrives in the same turn as the
thing it waits for (CPython gh-86296, fixed in 3.12): it returns as if nothing happened, and a
`while True` loop built on it goes on for ever, holding up whatever waits for it to stop (a hub's
shutdown, a node's). `within` waits with `asyncio.timeout`, which never loses one.
"""

from __future__ import annotations

import asyncio
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
