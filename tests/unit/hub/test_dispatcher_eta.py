"""A job's ETA as the dispatcher tells it: the scheduler's rate model over the job's open maps,
not a naive average of the items done so far; unknown while paused or with no map open."""

from __future__ import annotations

import asyncio

import pytest

from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import (
    Assign,
    BatchFinished,
    Capabilities,
    HubMessage,
    NodeHello,
    Results,
    TaskResult,
)
from witengine.runtime.executor import MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.settings import SchedulerSettings
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=1, ram_bytes=1 << 30)
ACTIVITY = "Compute.Work"
QUEUED = ProcessingOptions.make("Queued")  # one item per batch: the test knows each node's work


def hello(name: str) -> NodeHello:
    return NodeHello(name=name, node_id=f"node_{name}", capabilities=CAPS, activities=[ACTIVITY])


class Node:
    """A fake node: keeps what the hub sends it, and answers one batch when told to."""

    def __init__(self, dispatcher: Dispatcher, name: str) -> None:
        self.dispatcher = dispatcher
        self.id = f"node_{name}"
        self.inbox: list[HubMessage] = []
        self.pending: list[Assign] = []
        dispatcher.connect(hello(name), self.inbox.append)

    def finish_one(self, seconds: float) -> None:
        """Run the oldest batch it holds, each item taking `seconds`."""
        self.pending += [m for m in self.inbox if isinstance(m, Assign)]
        self.inbox.clear()
        assign = self.pending.pop(0)
        results = [
            TaskResult(
                map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value=1, seconds=seconds
            )
            for t in assign.tasks
        ]
        self.dispatcher.handle(self.id, Results(batch_id=assign.batch_id, results=results))
        self.dispatcher.handle(self.id, BatchFinished(batch_id=assign.batch_id))


async def start(dispatcher: Dispatcher, count: int) -> asyncio.Task[list[object]]:
    request = MapRequest(ACTIVITY, [[1.0]] * count, QUEUED)
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    return task


async def stop(task: asyncio.Task[list[object]]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def dispatcher(clock: FakeClock) -> Dispatcher:
    return Dispatcher(MemoryStore(), clock, scheduler=SchedulerSettings(duplicate_limit=0.0))


async def test_the_eta_comes_from_the_rates_not_from_the_average_so_far(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    slow = Node(dispatcher, "slow")
    task = await start(dispatcher, 100)
    for _ in range(10):  # the slow node alone: an item a second for 10 s
        dispatcher.dispatch()
        clock.advance(1.0)
        slow.finish_one(seconds=1.0)
    assert dispatcher.view.remaining_seconds("job_1") == pytest.approx(90.0, abs=1.0)
    # A node nine times as fast joins: the average so far (10 items in 10 s) would still say
    # 90 s; the rate model shares the 90 items left at 1 + 9 items a second.
    dispatcher.scheduler.rates.benchmark("node_fast", ACTIVITY, 9.0)
    fast = Node(dispatcher, "fast")
    naive = (100 - 10) / (10 / 10.0)
    eta = dispatcher.view.remaining_seconds("job_1")
    assert eta is not None and eta == pytest.approx(9.0, abs=1.0) and eta < naive / 5
    # Its first result shows it does 3 items a second, not 9: the ETA follows at once.
    dispatcher.dispatch()
    clock.advance(1 / 3)
    fast.finish_one(seconds=1 / 3)
    left = 100 - 11
    assert dispatcher.view.remaining_seconds("job_1") == pytest.approx(left / (1 + 3), abs=1.0)
    await stop(task)


async def test_the_eta_is_unknown_without_a_map_a_node_or_while_paused(
    dispatcher: Dispatcher,
) -> None:
    assert dispatcher.view.remaining_seconds("job_1") is None  # no map open
    task = await start(dispatcher, 10)
    assert dispatcher.view.remaining_seconds("job_1") is None  # no node can run it
    Node(dispatcher, "alpha")
    assert dispatcher.view.remaining_seconds("job_1") == pytest.approx(10.0)  # 1 unit/s: a guess
    dispatcher.pause_job("job_1")
    assert dispatcher.view.remaining_seconds("job_1") is None
    dispatcher.resume_job("job_1")
    assert dispatcher.view.remaining_seconds("job_1") == pytest.approx(10.0)
    assert dispatcher.view.remaining_seconds("job_other") is None
    await stop(task)
    assert dispatcher.view.remaining_seconds("job_1") is None  # the map ended
