"""The test twins that ship with witengine: FakeClock and InlineExecutor."""

from __future__ import annotations

import asyncio

import pytest

from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.runtime.library import Library
from witengine.testing.clock import FakeClock
from witengine.testing.executors import InlineExecutor

from .conftest import Runner


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


# ------------------------------------------------------------------------ FakeClock


def test_fake_time_moves_only_when_advanced() -> None:
    clock = FakeClock(5.0)

    assert clock.now() == 5.0
    assert clock.now() == 5.0
    clock.advance(0.25)
    assert clock.now() == 5.25


def test_fake_time_adds_up_without_float_drift() -> None:
    clock = FakeClock()

    for _ in range(3):
        clock.advance(0.1)

    assert clock.now() == 0.3


def test_fake_time_never_goes_back() -> None:
    clock = FakeClock(1.0)

    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-0.5)
    assert clock.now() == 1.0


async def test_a_sleeper_wakes_when_time_reaches_its_deadline() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(1.0))
    await clock.wait_for_sleepers(1)

    clock.advance(0.999)
    await settle()
    assert not sleeper.done()
    assert clock.next_deadline() == 1.0

    clock.advance(0.001)
    await sleeper
    assert clock.sleeping == 0
    assert clock.next_deadline() is None


async def test_sleepers_wake_in_the_order_of_their_deadlines() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleep(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [
        asyncio.create_task(sleep("late", 3)),
        asyncio.create_task(sleep("early", 1)),
        asyncio.create_task(sleep("middle", 2)),
    ]
    await clock.wait_for_sleepers(3)

    clock.advance(10)
    await asyncio.gather(*tasks)

    assert woke == ["early", "middle", "late"]
    assert clock.slept == [3, 1, 2]


async def test_a_sleep_of_no_time_does_not_wait() -> None:
    clock = FakeClock()

    await clock.sleep(0)
    await clock.sleep(-1)

    assert clock.now() == 0
    assert clock.sleeping == 0


async def test_jump_moves_to_the_next_deadline_only() -> None:
    clock = FakeClock()
    assert clock.jump() is False

    first = asyncio.create_task(clock.sleep(2))
    second = asyncio.create_task(clock.sleep(5))
    await clock.wait_for_sleepers(2)

    assert clock.jump() is True
    await first
    assert clock.now() == 2
    assert not second.done()
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert clock.sleeping == 0
    assert clock.jump() is False


async def test_autojump_finishes_long_sleeps_at_once_in_fake_time() -> None:
    clock = FakeClock(autojump=True)
    woke: list[float] = []

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    await asyncio.gather(sleep(3600), sleep(60), sleep(86400))

    assert woke == [60, 3600, 86400]  # side by side: the longest sets the end
    assert clock.now() == 86400


# -------------------------------------------------------------------- InlineExecutor


async def test_inline_executor_runs_items_in_order_as_json(library: Library) -> None:
    executor = InlineExecutor(library)
    progress: list[tuple[int, int]] = []
    request = MapRequest("Compute.IsPrime", [[4], [5], [7]])

    results = await executor.map(request, lambda done, total: progress.append((done, total)))

    assert results == [False, True, True]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert executor.requests == [request]
    assert [args for _, args in executor.calls] == [[4], [5], [7]]


async def test_inline_executor_stops_at_the_first_failing_item(library: Library) -> None:
    executor = InlineExecutor(library)

    with pytest.raises(ItemFailed) as caught:
        await executor.map(MapRequest("Compute.Sleep", [[1], [-1], [2]]), lambda done, total: None)

    assert caught.value.index == 1
    assert caught.value.message == "Compute.Sleep: ValueError: ms must not be negative, got -1"
    assert len(executor.calls) == 2


async def test_inline_executor_names_an_activity_it_does_not_have(library: Library) -> None:
    executor = InlineExecutor(library)

    with pytest.raises(ItemFailed, match=r"^item 0: Render\.Nothing: no such activity"):
        await executor.map(MapRequest("Render.Nothing", [[1]]), lambda done, total: None)


async def test_inline_executor_maps_nothing_to_nothing(library: Library) -> None:
    executor = InlineExecutor(library)

    assert await executor.map(MapRequest("Compute.Hash", []), lambda done, total: None) == []


async def test_inline_executor_gives_activities_its_context(run: Runner) -> None:
    executor = InlineExecutor(run.library, run.context)

    (blob,) = await executor.map(
        MapRequest("Compute.WriteText", [["hi", "a.txt"]]), lambda done, total: None
    )

    assert blob["name"] == "a.txt"
    assert run.context.blobs.has(blob["sha256"])


async def test_a_cancelled_map_runs_no_further_items(library: Library) -> None:
    executor = InlineExecutor(library)
    first_done = asyncio.Event()

    def progress(done: int, total: int) -> None:
        first_done.set()

    task = asyncio.create_task(
        executor.map(MapRequest("Compute.Hash", [["a"], ["b"], ["c"]]), progress)
    )
    await first_done.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert [args for _, args in executor.calls] == [["a"]]
