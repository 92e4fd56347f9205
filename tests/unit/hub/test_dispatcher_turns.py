"""A large map never holds up the hub's event loop: storing its tasks, hashing and estimating its
items, handing out its first round to many nodes and committing results that arrive together are
done a slice (`ITEMS_PER_TURN` items) per turn of the loop, so the API and the nodes are answered
in between. Counted in turns of the loop, not timed (the time is `bench/soak.py`'s worst API
latency)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from witengine.hub.dispatch import Dispatcher, uniform_estimate
from witengine.hub.store.base import Commit
from witengine.hub.store.memory import MemoryStore
from witengine.hub.turns import ITEMS_PER_TURN
from witengine.protocol import Assign, Capabilities, HubMessage, NodeHello, Results, TaskResult
from witengine.runtime.executor import MapRequest
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(60)

ACTIVITY = "Compute.Hash"
ITEMS = 10 * ITEMS_PER_TURN + 1


class Turns:
    """Counts the turns of the event loop while it runs."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)


@pytest.fixture
async def turns() -> AsyncIterator[Turns]:
    counter = Turns()
    task = asyncio.create_task(counter.run())
    yield counter
    task.cancel()


class CountingStore(MemoryStore):
    """A MemoryStore that notes the turn of the loop and the size of each write of tasks."""

    def __init__(self, turns: Turns) -> None:
        super().__init__()
        self.turns = turns
        self.writes: list[tuple[int, int]] = []  # (turn, tasks written)

    def add_tasks(self, map_id: str, first: int, items: Sequence[Sequence[object]]) -> None:
        self.writes.append((self.turns.count, len(items)))
        super().add_tasks(map_id, first, items)


class CommitCountingStore(MemoryStore):
    """A MemoryStore that notes the turn of the loop and the size of each commit of results."""

    def __init__(self, turns: Turns) -> None:
        super().__init__()
        self.turns = turns
        self.commits: dict[int, int] = {}  # turn -> results committed in it

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        self.commits[self.turns.count] = self.commits.get(self.turns.count, 0) + len(commits)
        return super().commit(map_id, commits)


def hello(name: str) -> NodeHello:
    capabilities = Capabilities(os="Linux", arch="x86_64", cores=1, ram_bytes=1 << 30)
    return NodeHello(name=name, slots=1, capabilities=capabilities, activities=[ACTIVITY])


def request(count: int) -> MapRequest:
    return MapRequest(ACTIVITY, [[f"item-{i}"] for i in range(count)], None)


async def until(condition: object, turns: int = 10_000) -> None:
    for _ in range(turns):  # bounded: each slice takes one turn
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition did not hold within the turns allowed")


async def test_a_large_map_is_stored_and_estimated_a_slice_per_turn_of_the_loop(
    turns: Turns,
) -> None:
    store = CountingStore(turns)
    estimated: list[tuple[int, int]] = []  # (turn, items estimated)

    def estimate(activity: str, items: Sequence[Sequence[object]]) -> tuple[str, list[float]]:
        estimated.append((turns.count, len(items)))
        return uniform_estimate(activity, items)

    dispatcher = Dispatcher(store, FakeClock(1000.0), estimate=estimate)
    task = asyncio.create_task(dispatcher.run_map("job_1", 1, request(ITEMS), lambda d, t: None))
    await until(lambda: dispatcher.view.in_flight()[0] == 1)

    ((map_id, stored),) = store.maps.items()
    info = dispatcher.view.map_info(map_id)
    assert info is not None and info.count == stored.record.count == ITEMS
    assert len(stored.tasks) == ITEMS, "every task is stored before any is sent"
    for name, calls in (("stored", store.writes), ("estimated", estimated)):
        assert max(size for _, size in calls) <= ITEMS_PER_TURN, f"too many {name} at once"
        turns_used = [turn for turn, _ in calls]
        assert len(set(turns_used)) == len(turns_used), f"two slices {name} in one turn"
    assert sum(size for _, size in estimated) == ITEMS
    task.cancel()


async def test_a_first_round_to_many_nodes_is_handed_out_a_slice_per_turn(turns: Turns) -> None:
    dispatcher = Dispatcher(MemoryStore(), FakeClock(1000.0))
    sent: dict[int, int] = {}  # turn -> items sent in it
    batches: list[int] = []

    def send(message: HubMessage) -> None:
        if isinstance(message, Assign):
            sent[turns.count] = sent.get(turns.count, 0) + len(message.tasks)
            batches.append(len(message.tasks))

    for number in range(60):
        dispatcher.connect(hello(f"node-{number}"), send)
    loop = asyncio.create_task(dispatcher.run())
    task = asyncio.create_task(dispatcher.run_map("job_1", 1, request(ITEMS), lambda d, t: None))
    await until(lambda: len(batches) == 2 * 60)  # every node holds two batches

    assert sum(sent.values()) > 2 * ITEMS_PER_TURN, "the first round spans several turns"
    assert max(sent.values()) <= ITEMS_PER_TURN + max(batches)
    task.cancel()
    loop.cancel()


def done(assign: Assign) -> Results:
    """A node's results for a whole batch."""
    results = [
        TaskResult(map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value="v")
        for t in assign.tasks
    ]
    return Results(batch_id=assign.batch_id, results=results)


async def test_results_that_arrive_together_are_committed_a_slice_per_turn(turns: Turns) -> None:
    store = CommitCountingStore(turns)
    dispatcher = Dispatcher(store, FakeClock(1000.0))
    given: list[tuple[str, Assign]] = []  # (node id, batch)
    for number in range(20):
        node_id = f"node_{number}"

        def send(message: HubMessage, node_id: str = node_id) -> None:
            if isinstance(message, Assign):
                given.append((node_id, message))

        link = hello(f"node-{number}").model_copy(update={"node_id": node_id})
        assert dispatcher.connect(link, send) == node_id
    loop = asyncio.create_task(dispatcher.run())
    task = asyncio.create_task(dispatcher.run_map("job_1", 1, request(ITEMS), lambda d, t: None))
    await until(lambda: len(given) == 2 * 20)
    loop.cancel()  # no more batches: the results of these are all that arrives

    for node_id, assign in given:  # all in one turn, as a hub short of CPU reads them
        dispatcher.receive(node_id, done(assign))
    sent = sum(len(assign.tasks) for _, assign in given)
    await until(lambda: sum(store.commits.values()) == sent)

    largest = max(len(assign.tasks) for _, assign in given)
    assert sent > 2 * ITEMS_PER_TURN and len(store.commits) > 1
    assert max(store.commits.values()) <= ITEMS_PER_TURN + largest
    task.cancel()
