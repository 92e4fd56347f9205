"""The scheduler plans with what a node's owner policy reports: a node whose window closes in
ten minutes is given ten minutes of work, and a node whose owner came back is given less until
it has delivered again."""

from __future__ import annotations

import asyncio

import pytest

from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import Assign, Capabilities, HubMessage, NodeHello, NodeStatus
from witengine.protocol.states import Availability
from witengine.runtime.executor import MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.settings import SchedulerSettings
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=1, ram_bytes=1 << 30)
ACTIVITY = "Compute.Work"


class Node:
    def __init__(self, dispatcher: Dispatcher, name: str, status: NodeStatus) -> None:
        self.id = f"node_{name}"
        self.inbox: list[HubMessage] = []
        hello = NodeHello(
            name=name, node_id=self.id, capabilities=CAPS, activities=[ACTIVITY], status=status
        )
        dispatcher.connect(hello, self.inbox.append)
        dispatcher.scheduler.rates.benchmark(self.id, ACTIVITY, 1.0)  # an item a second

    def batches(self) -> list[int]:
        return [len(m.tasks) for m in self.inbox if isinstance(m, Assign)]


@pytest.fixture
def dispatcher() -> Dispatcher:
    farm = SchedulerSettings(max_lease=1e6, duplicate_limit=0.0)
    return Dispatcher(MemoryStore(), FakeClock(1000.0), scheduler=farm, lease_seconds=10.0)


async def start(dispatcher: Dispatcher, count: int, *nodes: Node) -> asyncio.Task[list[object]]:
    request = MapRequest(ACTIVITY, [[i] for i in range(count)], ProcessingOptions())
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    for _ in range(1000):  # until the map reaches the dispatcher (it is stored a slice a turn)
        await asyncio.sleep(0)
        if dispatcher.dispatch() or any(node.batches() for node in nodes):
            break
    return task


async def test_a_node_whose_window_closes_in_ten_minutes_gets_ten_minutes_of_work(
    dispatcher: Dispatcher,
) -> None:
    closing = Node(dispatcher, "closing", NodeStatus(window_seconds=600.0))
    task = await start(dispatcher, 5000, closing)
    # Its first batch fills the window (less a dispatch overhead: 599.998 s); none fits after.
    assert closing.batches() == [599]
    task.cancel()


async def test_a_node_whose_owner_came_back_is_given_less_until_it_has_delivered(
    dispatcher: Dispatcher,
) -> None:
    steady = Node(dispatcher, "steady", NodeStatus())
    back = Node(dispatcher, "back", NodeStatus(availability=Availability.SUSPENDED))
    back_id = back.id
    dispatcher.handle_many([(back_id, NodeStatus())])  # the owner left again: available
    task = await start(dispatcher, 5000, steady, back)
    first_steady, first_back = steady.batches()[0], back.batches()[0]
    assert first_back * 4 <= first_steady * 1.1, "planned at a quarter of its rate"
    task.cancel()
