"""Processes that end cleanly: children that end with the process that started them, and long
runs that a signal stops as Ctrl-C does; and the garbage collector of long-lived ones."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

# Objects made (net) between two collections of the garbage collector's youngest generation;
# Python's default is 700. See `collect_garbage_rarely`.
GC_ALLOCATIONS = 100_000


def collect_garbage_rarely() -> None:
    """For a hub, a node or a node's batch process, once started: what it has loaded so far is
    kept out of the garbage collector's passes (gc.freeze), and it collects after every
    GC_ALLOCATIONS new objects, not 700. With a map of 20,000 items in memory, each of them
    spent 13 to 20 % of its CPU in collections that found next to nothing (a farm of tiny items
    makes and keeps objects by the hundred thousand, few of them in cycles); now under 2 %."""
    gc.freeze()
    gc.set_threshold(GC_ALLOCATIONS, 10, 10)


# In a process's environment (set to "1"): what it starts through `die_with_parent` dies by
# SIGKILL with it. A node whose owner policy can freeze its batches sets it for them.
HARD_DEATH = "WIT_DIE_HARD"


def die_with_parent(hard: bool | None = None) -> None:
    """Runs in a child before it starts (`preexec_fn`): on Linux it gets SIGTERM when its parent
    dies, even by SIGKILL, so nothing it was started for outlives the parent (an embedded farm's
    hub and nodes, a node's batch processes and their programs). Elsewhere it does nothing.

    `hard` (by default: whether the environment has HARD_DEATH): SIGKILL instead, for a child
    that may be frozen (SIGSTOP). A stopped process keeps a SIGTERM pending until it runs again,
    so a frozen batch whose node was killed outright would wait stopped for ever; SIGKILL ends it
    at once. It gets no clean-up: its scratch folder is the node's to remove."""
    if sys.platform == "linux":
        import ctypes

        if hard is None:
            hard = os.environ.get(HARD_DEATH) == "1"
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL if hard else signal.SIGTERM)


async def until_stopped(work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` until it ends or SIGTERM or SIGINT arrives (a service manager stopping it,
    Ctrl-C), which cancel it so that its clean-up runs. True when a signal stopped it."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    stopped: list[signal.Signals] = []

    def stop(number: signal.Signals) -> None:
        stopped.append(number)
        task.cancel()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop, number)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not stopped:
            task.result()  # cancelled by someone else: that is theirs to report
        return bool(stopped)
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
