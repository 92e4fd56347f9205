"""`within`: a time limit that never loses a cancellation (asyncio.wait_for on Python 3.11 loses
one that arrives in the same turn as what it waits for, CPython gh-86296)."""

from __future__ import annotations

import asyncio

import pytest

from witengine.waiting import within


async def test_within_says_whether_it_finished_in_time() -> None:
    assert await within(1.0, asyncio.sleep(0)) is True
    assert await within(0.01, asyncio.sleep(10)) is False


async def test_a_cancellation_in_the_same_turn_as_the_wait_ending_is_not_lost() -> None:
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:  # as the dispatcher's and a node's idle loops do
            rounds += 1
            wake.clear()
            await within(5.0, wake.wait())

    task = asyncio.create_task(loop())
    for _ in range(3):  # bounded: the loop is waiting after a turn or two
        await asyncio.sleep(0)
    wake.set()
    task.cancel()  # the same turn
    with pytest.raises(asyncio.CancelledError):  # a lost one: TimeoutError after 1 s
        await asyncio.wait_for(task, 1.0)
    assert rounds == 1
