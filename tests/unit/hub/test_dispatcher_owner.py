"""Nodes under an owner policy, as the dispatcher sees them: a node that reports it is suspended
or unavailable gets no new work and shows that state with its reason; a suspended node keeps
its leases while its heartbeats go on; a node that hands its batches back has what it finished
committed and the rest given to other nodes before anything else."""

from __future__ import annotations

import asyncio

import pytest

from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import (
    Assign,
    BatchFinished,
    Capabilities,
    Heartbeat,
    HubMessage,
    NodeHello,
    NodeStatus,
    Results,
    TaskResult,
)
from witengine.protocol.states import Availability, NodeState
from witengine.runtime.executor import MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.settings import SchedulerSettings
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=1, ram_bytes=1 << 30)
ACTIVITY = "Compute.Work"
QUEUED = ProcessingOptions.make("Queued")  # one item per batch: the test knows each node's work
BACK = "the owner is back (input 0.2 s ago)"


def hello(name: str, status: NodeStatus | None = None) -> NodeHello:
    return NodeHello(
        name=name,
        node_id=f"node_{name}",
        capabilities=CAPS,
        activities=[ACTIVITY],
        status=status or NodeStatus(),
    )


def suspended(reason: str = BACK) -> NodeStatus:
    return NodeStatus(availability=Availability.SUSPENDED, reason=reason)


class Node:
    """A fake node: keeps what the hub sends it."""

    def __init__(self, dispatcher: Dispatcher, name: str, status: NodeStatus | None = None):
        self.dispatcher = dispatcher
        self.id = f"node_{name}"
        self.inbox: list[HubMessage] = []
        dispatcher.connect(hello(name, status), self.inbox.append)

    def assigns(self) -> list[Assign]:
        return [m for m in self.inbox if isinstance(m, Assign)]

    def items(self) -> list[int]:
        return [t.index for a in self.assigns() for t in a.tasks]

    def cancels(self) -> int:
        return sum(1 for m in self.inbox if m.kind == "cancel")

    def say(self, *messages: Results | BatchFinished | Heartbeat | NodeStatus) -> None:
        self.dispatcher.handle_many([(self.id, message) for message in messages])

    def heartbeat(self) -> None:
        self.say(Heartbeat(batches=[a.batch_id for a in self.assigns()]))


def results(assign: Assign) -> Results:
    return Results(
        batch_id=assign.batch_id,
        results=[
            TaskResult(map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value=t.index)
            for t in assign.tasks
        ],
    )


def finish(node: Node, assign: Assign) -> None:
    node.say(results(assign), BatchFinished(batch_id=assign.batch_id))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def dispatcher(clock: FakeClock) -> Dispatcher:
    farm = SchedulerSettings(min_lease=10.0, duplicate_limit=0.0)
    return Dispatcher(MemoryStore(), clock, scheduler=farm, lease_seconds=10.0)


async def start(dispatcher: Dispatcher, count: int) -> asyncio.Task[list[object]]:
    request = MapRequest(ACTIVITY, [[i] for i in range(count)], QUEUED)
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    return task


async def test_a_node_that_connects_unavailable_gets_no_work_and_says_why(
    dispatcher: Dispatcher,
) -> None:
    why = "outside its hours (Mon-Fri 20:00-08:00)"
    status = NodeStatus(availability=Availability.UNAVAILABLE, reason=why, policy={"hours": "x"})
    away = Node(dispatcher, "away", status)
    task = await start(dispatcher, 2)
    dispatcher.dispatch()
    assert away.assigns() == []
    assert dispatcher.view.node_state(away.id) is NodeState.UNAVAILABLE
    assert dispatcher.view.node_reason(away.id) == why
    assert dispatcher.view.policy(away.id) == {"hours": "x"}
    away.say(NodeStatus())  # its window opened
    assert dispatcher.view.node_state(away.id) is NodeState.IDLE
    assert dispatcher.view.node_reason(away.id) == ""
    dispatcher.dispatch()
    assert away.items() == [0, 1]
    for assign in away.assigns():
        finish(away, assign)
    assert await task == [0, 1]


async def test_a_suspended_node_keeps_its_leases_while_it_heartbeats_and_gets_nothing_new(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    node = Node(dispatcher, "desk")
    task = await start(dispatcher, 4)
    dispatcher.dispatch()
    assert node.items() == [0, 1], "one slot: one batch running and one waiting"
    node.say(suspended())
    assert dispatcher.view.node_state(node.id) is NodeState.SUSPENDED
    assert dispatcher.view.node_reason(node.id) == BACK
    assert dispatcher.view.suspended_at(node.id) == clock.now()
    for _ in range(12):  # two minutes frozen: twelve leases' worth
        clock.advance(5)
        node.heartbeat()
        dispatcher.expire()
        dispatcher.dispatch()
    assert node.cancels() == 0, "its leases are alive"
    assert node.items() == [0, 1], "and it is given nothing new"
    assert dispatcher.view.running_items(node.id) == 2
    node.say(NodeStatus())  # the owner left: it thaws what it holds
    assert dispatcher.view.node_state(node.id) is NodeState.BUSY
    assert dispatcher.view.suspended_at(node.id) == clock.now(), "suspended until now"
    for _ in range(4):
        for assign in node.assigns():
            if dispatcher.view.lease_alive(assign.batch_id):
                finish(node, assign)
        dispatcher.dispatch()
    assert await task == [0, 1, 2, 3]
    assert [t.attempt for a in node.assigns() for t in a.tasks] == [1, 1, 1, 1]


async def test_a_suspended_node_that_stops_heartbeating_loses_its_leases_as_any_node(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    node = Node(dispatcher, "desk")
    task = await start(dispatcher, 1)
    dispatcher.dispatch()
    node.say(suspended())
    clock.advance(10)
    dispatcher.expire()
    assert node.cancels() == 1, "suspension holds a lease only while the node is heard"
    task.cancel()


async def test_handed_back_items_go_to_other_nodes_before_any_other_and_results_count(
    dispatcher: Dispatcher,
) -> None:
    desk = Node(dispatcher, "desk")
    task = await start(dispatcher, 8)
    dispatcher.dispatch()
    assert desk.items() == [0, 1]
    server = Node(dispatcher, "server")
    dispatcher.dispatch()
    assert server.items() == [2, 3]
    desk.say(suspended())
    first, second = desk.assigns()
    # Its owner stayed: item 0 had finished before the freeze, item 1 had not started.
    desk.say(
        results(first),
        BatchFinished(batch_id=first.batch_id, handed_back=True),
        BatchFinished(batch_id=second.batch_id, handed_back=True),
        NodeStatus(availability=Availability.UNAVAILABLE, reason="suspended for 10 min"),
    )
    assert dispatcher.view.node_state(desk.id) is NodeState.UNAVAILABLE
    assert dispatcher.view.running_items(desk.id) == 0
    finish(server, server.assigns()[0])
    dispatcher.dispatch()
    assert server.items()[2:] == [1], "the handed-back item before items 4 to 7"
    for _ in range(10):
        for assign in server.assigns():
            if dispatcher.view.lease_alive(assign.batch_id):
                finish(server, assign)
        dispatcher.dispatch()
    assert await task == list(range(8))
    assert desk.items() == [0, 1] and sorted(server.items()) == [1, 2, 3, 4, 5, 6, 7]
    assert dispatcher.work_by_node("job_1")["desk"][0] == 1, "its finished item counted"


async def test_a_node_reports_its_window_in_its_own_seconds_and_the_hub_keeps_its_end(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    week = [1.0] * 168
    node = Node(dispatcher, "desk", NodeStatus(window_seconds=600.0, week=week))
    assert dispatcher.view.window_seconds(node.id) == 600.0
    clock.advance(100)
    assert dispatcher.view.window_seconds(node.id) == 500.0
    assert dispatcher.view.week(node.id) == tuple(week)
    assert dispatcher.view.suspended_at(node.id) is None, "never suspended"
    node.say(NodeStatus(window_seconds=None))
    assert dispatcher.view.window_seconds(node.id) is None


async def test_a_node_that_reconnects_keeps_when_it_was_last_suspended(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    node = Node(dispatcher, "desk")
    node.say(suspended())
    at = clock.now()
    dispatcher.disconnect(node.id)
    clock.advance(1)
    Node(dispatcher, "desk")  # back, available
    assert dispatcher.view.suspended_at(node.id) == at
    assert dispatcher.view.node_state(node.id) is NodeState.IDLE


async def test_a_window_that_moves_is_told_to_the_schedules_and_the_same_end_told_again_is_not(
    dispatcher: Dispatcher, clock: FakeClock
) -> None:
    desk = Node(dispatcher, "desk", NodeStatus(window_seconds=3600.0))
    Node(dispatcher, "server")
    task = await start(dispatcher, 4)

    def told() -> dict[str, float | None]:
        (held,) = dispatcher._state.maps.values()
        return {c.id: c.window_end for c in held.candidates}

    assert told() == {"node_desk": 4600.0, "node_server": None}
    clock.advance(60)
    desk.say(NodeStatus(window_seconds=3541.0))  # the same end, a second's delay later
    assert told()["node_desk"] == 4600.0
    desk.say(NodeStatus(window_seconds=600.0))  # still available, but its owner shortened it
    assert told()["node_desk"] == 1660.0
    desk.say(NodeStatus(window_seconds=None))
    assert told()["node_desk"] is None
    task.cancel()
