"""Maps whose items need something of a node beyond their activity (the tool a `Tool.Run` item
names): the dispatcher asks each item's needs when the map opens and gives its batches only to
nodes whose capabilities meet them all; without such a node the map waits, then fails saying what
each node lacks. The dispatcher runs on an in-memory store with fake node links and a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from witengine.errors import NoCompatibleNode
from witengine.hub.dispatch import Dispatcher, Json
from witengine.hub.store.memory import MemoryStore
from witengine.plugins.requirements import Requirements
from witengine.protocol import (
    Assign,
    BatchFinished,
    Capabilities,
    HubMessage,
    NodeHello,
    Results,
    TaskResult,
)
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(10)

ACTIVITY = "Tool.Run"


def caps(**software: str) -> Capabilities:
    return Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30, software=software)


def tool_named(activity: str, args: Sequence[Json]) -> Requirements | None:
    """As the tool plugin's Tool.Run: its first argument names the tool (and a version range)."""
    return Requirements(software=str(args[0])) if activity == ACTIVITY else None


@dataclass
class Link:
    inbox: list[HubMessage] = field(default_factory=list)

    def send(self, message: HubMessage) -> None:
        self.inbox.append(message)

    def assigns(self) -> list[Assign]:
        return [m for m in self.inbox if isinstance(m, Assign)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


def make(clock: FakeClock) -> Dispatcher:
    return Dispatcher(
        MemoryStore(), clock, requires=tool_named, lease_seconds=10.0, no_node_seconds=5.0
    )


def join(dispatcher: Dispatcher, name: str, capabilities: Capabilities) -> tuple[str, Link]:
    link = Link()
    hello = NodeHello(name=name, capabilities=capabilities, activities=[ACTIVITY], slots=4)
    return dispatcher.connect(hello, link.send), link


async def start(dispatcher: Dispatcher, *tools: str) -> asyncio.Task[list[Json]]:
    request = MapRequest(ACTIVITY, [[tool, [], []] for tool in tools])
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    return task


def finish(dispatcher: Dispatcher, node_id: str, assign: Assign) -> None:
    results = [
        TaskResult(map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value=t.args[0])
        for t in assign.tasks
    ]
    dispatcher.handle(node_id, Results(batch_id=assign.batch_id, results=results))
    dispatcher.handle(node_id, BatchFinished(batch_id=assign.batch_id))


async def test_items_go_only_to_nodes_that_have_the_tool_in_the_version_asked(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    old, old_link = join(dispatcher, "old", caps(python="3.9.2", prman="24.1"))
    new, new_link = join(dispatcher, "new", caps(python="3.12.1"))
    task = await start(dispatcher, "python>=3.11", "python>=3.11", "python>=3.11")
    finished: set[str] = set()
    for _ in range(20):  # bounded: each round settles at least one batch
        dispatcher.dispatch()
        for assign in new_link.assigns():
            if assign.batch_id not in finished:
                finished.add(assign.batch_id)
                finish(dispatcher, new, assign)
        await asyncio.sleep(0)
        if task.done():
            break
    assert await task == ["python>=3.11"] * 3
    assert old_link.assigns() == [], "the node with Python 3.9 was given an item"
    assert dispatcher.view.facts(old).connected  # able to run the activity all along


async def test_a_tool_no_node_has_waits_then_fails_saying_what_each_node_lacks(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    _, a = join(dispatcher, "a", caps(python="3.11.7"))
    _, b = join(dispatcher, "b", caps(python="3.9.2", povray="3.7.0.10"))
    task = await start(dispatcher, "prman")
    dispatcher.dispatch()
    dispatcher.expire()
    clock.advance(4)
    dispatcher.expire()
    await asyncio.sleep(0)
    assert not task.done(), "a node with prman may still come within the waiting time"
    clock.advance(1)
    dispatcher.expire()
    with pytest.raises(
        NoCompatibleNode,
        match=r"^no node has prman to run Tool.Run: a has no prman; b has no prman$",
    ):
        await task
    assert a.assigns() == [] and b.assigns() == []


async def test_a_node_that_comes_with_the_tool_gets_the_waiting_items(clock: FakeClock) -> None:
    dispatcher = make(clock)
    _, without = join(dispatcher, "without", caps(python="3.11.7"))
    task = await start(dispatcher, "povray")
    dispatcher.dispatch()
    assert without.assigns() == []
    with_id, with_link = join(dispatcher, "with", caps(povray="3.7.0.10"))
    dispatcher.dispatch()
    (assign,) = with_link.assigns()
    finish(dispatcher, with_id, assign)
    assert await task == ["povray"]
    assert without.assigns() == []


async def test_items_that_need_different_tools_go_to_nodes_that_have_them_all(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    _, one = join(dispatcher, "one", caps(python="3.11.7"))
    both, both_link = join(dispatcher, "both", caps(python="3.11.7", povray="3.7.0.10"))
    task = await start(dispatcher, "python", "povray")
    dispatcher.dispatch()
    for assign in both_link.assigns():
        finish(dispatcher, both, assign)
    assert await task == ["python", "povray"]
    assert one.assigns() == []


async def test_an_item_whose_tool_cannot_be_read_fails_the_map_naming_it(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    join(dispatcher, "a", caps(python="3.11.7"))
    task = await start(dispatcher, "python", "python >= = 3")
    with pytest.raises(ItemFailed, match=r"item 1: .*cannot read the software requirement"):
        await task


async def test_a_map_whose_activity_every_node_lacks_a_tool_for_says_what_each_lacks(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    link = Link()
    unmet = {"Tool.RenderMan": ["needs prman; this node has no prman"]}
    hello = NodeHello(name="a", capabilities=caps(python="3.11.7"), activities=[], unmet=unmet)
    dispatcher.connect(hello, link.send)
    request = MapRequest("Tool.RenderMan", [[{"sha256": "ab" * 32, "size": 1, "name": "a.rib"}]])
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    dispatcher.expire()
    clock.advance(5)
    dispatcher.expire()
    with pytest.raises(
        NoCompatibleNode,
        match=r"^no connected node can run Tool.RenderMan: a has no prman$",
    ):
        await task
