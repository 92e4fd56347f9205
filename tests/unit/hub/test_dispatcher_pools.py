"""Pools and trust tiers in the dispatcher: a map whose job names no pools runs on nodes of
trusted pools only, one that names pools on their nodes only, whatever their tier; a node moved
to another pool, or a pool whose tier changed, changes what it is given at once; a pool the hub
does not have fails the map naming it. An in-memory store, fake node links and a FakeClock."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from tests.unit.hub.test_dispatcher_requirements import ACTIVITY, Link, caps, finish

from witengine.errors import NoCompatibleNode
from witengine.hub.dispatch import Dispatcher, Json, Placement
from witengine.hub.store.base import PoolRecord
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import NodeHello
from witengine.protocol.states import PoolTier
from witengine.runtime.executor import MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(10)

VOLUNTEERS = Placement("volunteers", trusted=False, owner="ada")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


def make(clock: FakeClock) -> Dispatcher:
    store = MemoryStore()
    store.put_pool(PoolRecord("volunteers", PoolTier.UNTRUSTED))
    return Dispatcher(store, clock, lease_seconds=10.0, no_node_seconds=5.0)


def join(dispatcher: Dispatcher, name: str, placement: Placement | None = None) -> tuple[str, Link]:
    link = Link()
    hello = NodeHello(name=name, capabilities=caps(), activities=[ACTIVITY], slots=4)
    return dispatcher.connect(hello, link.send, placement), link


async def start(
    dispatcher: Dispatcher, count: int, pools: str | None = None
) -> asyncio.Task[list[Json]]:
    options = ProcessingOptions.make("Queued", None, pools) if pools else None
    request = MapRequest(ACTIVITY, [[f"item-{i}", [], []] for i in range(count)], options)
    task = asyncio.ensure_future(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    return task


async def run(
    dispatcher: Dispatcher, task: asyncio.Task[list[Json]], *nodes: tuple[str, Link]
) -> list[Json]:
    """Dispatch and finish every batch the nodes are given until the map ends (bounded)."""
    finished: set[str] = set()
    for _ in range(50):
        dispatcher.dispatch()
        for node_id, link in nodes:
            for assign in link.assigns():
                if assign.batch_id not in finished:
                    finished.add(assign.batch_id)
                    finish(dispatcher, node_id, assign)
        await asyncio.sleep(0)
        if task.done():
            break
    return await task


async def test_a_job_that_names_no_pools_never_runs_on_an_untrusted_node(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    volunteer = join(dispatcher, "volunteer", VOLUNTEERS)
    studio = join(dispatcher, "studio")
    task = await start(dispatcher, 12)
    assert len(await run(dispatcher, task, volunteer, studio)) == 12
    assert volunteer[1].assigns() == [], "an untrusted node was given a job that named no pools"
    assert studio[1].assigns()


async def test_a_job_that_names_a_pool_runs_on_its_nodes_only(clock: FakeClock) -> None:
    dispatcher = make(clock)
    ada = join(dispatcher, "ada's", VOLUNTEERS)
    bob = join(dispatcher, "bob's", replace(VOLUNTEERS, owner="bob"))  # who checks ada's
    studio = join(dispatcher, "studio")
    task = await start(dispatcher, 12, "volunteers")
    assert len(await run(dispatcher, task, ada, bob, studio)) == 12
    assert studio[1].assigns() == [], "a node outside the job's pools was given its work"
    assert ada[1].assigns() and bob[1].assigns()


async def test_a_job_with_only_untrusted_nodes_connected_waits_then_fails_saying_why(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    _, link = join(dispatcher, "volunteer", VOLUNTEERS)
    task = await start(dispatcher, 3)
    dispatcher.dispatch()
    dispatcher.expire()
    clock.advance(5)
    dispatcher.expire()
    with pytest.raises(NoCompatibleNode, match=r"it may use the trusted pools only.*volunteer"):
        await task
    assert link.assigns() == []


async def test_a_node_moved_out_of_the_trusted_pools_gets_no_more_of_such_a_job(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    node_id, link = join(dispatcher, "box")
    task = await start(dispatcher, 40)
    dispatcher.place(node_id, VOLUNTEERS)
    dispatcher.dispatch()
    assert link.assigns() == []
    dispatcher.place(node_id, Placement())  # back in the default pool: work again
    assert len(await run(dispatcher, task, (node_id, link))) == 40


async def test_a_pool_made_trusted_gives_its_nodes_the_jobs_that_name_no_pools(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    volunteer = join(dispatcher, "volunteer", VOLUNTEERS)
    task = await start(dispatcher, 5)
    dispatcher.dispatch()
    assert volunteer[1].assigns() == []
    dispatcher.retier("volunteers", trusted=True)
    assert len(await run(dispatcher, task, volunteer)) == 5


async def test_a_job_that_names_a_pool_the_hub_lacks_fails_naming_it(clock: FakeClock) -> None:
    dispatcher = make(clock)
    join(dispatcher, "studio")
    task = await start(dispatcher, 2, "volunteers,nowhere")
    with pytest.raises(NoCompatibleNode, match=r"pool\(s\) 'nowhere', which the hub does not"):
        await task
