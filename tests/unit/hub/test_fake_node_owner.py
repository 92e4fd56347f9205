"""Fake nodes that follow an owner, on a real hub over loopback: the office bench's nodes. A node
whose owner comes back freezes its work and the hub shows it suspended; it goes on where it
stopped; a node that vacates hands back what it did not finish and the job completes elsewhere."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from witengine.protocol.states import Availability
from witengine.testing.fake_nodes import FakeNode, OwnerChange, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 60)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(i);
}
"""
AVAILABLE, SUSPENDED, UNAVAILABLE = (
    Availability.AVAILABLE,
    Availability.SUSPENDED,
    Availability.UNAVAILABLE,
)


async def state_of(live_hub: LiveHub, name: str) -> str:
    nodes = (await live_hub.client.get("/nodes")).json()
    return str(next(n["state"] for n in nodes if n["name"] == name))


async def until_state(live_hub: LiveHub, name: str, wanted: str) -> None:
    for _ in range(500):
        if await state_of(live_hub, name) == wanted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never became {wanted}: {await state_of(live_hub, name)}")


async def working(node: FakeNode) -> None:
    """Until the node has been given work (the map reached the hub's dispatcher)."""
    for _ in range(1000):
        if node.received:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{node.name} was given no work")


async def test_a_node_whose_owner_comes_back_freezes_its_work_and_goes_on_after(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    owner = [
        OwnerChange(0.0, AVAILABLE, 3600.0),
        OwnerChange(0.1, SUSPENDED, None, "the owner is back"),
        OwnerChange(1.3, AVAILABLE, 3600.0),
    ]
    desk = FakeNode(root, "desk", item_seconds=0.02, token=live_hub.token, owner=owner)
    async with running(desk):
        job = await live_hub.submit(NAPS)
        await working(desk)
        desk.start_owner()
        await until_state(live_hub, "desk", "suspended")
        frozen = desk.done
        await asyncio.sleep(0.3)  # ~15 items' time
        assert desk.done == frozen, "it worked while suspended"
        assert desk.suspensions == 1
        ended = await live_hub.wait_for(job["id"], {"completed", "failed"})
    assert ended["status"] == "completed", ended["error"]
    assert ended["variables"]["slept"] == list(range(60))
    assert desk.received == 60 and desk.done == 60, "an item ran twice"


async def test_a_node_that_vacates_hands_back_what_it_did_not_finish(live_hub: LiveHub) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    owner = [
        OwnerChange(0.0, AVAILABLE, 3600.0),
        OwnerChange(0.1, UNAVAILABLE, None, "on battery"),  # its mains lost: it vacates
    ]
    desk = FakeNode(root, "desk", item_seconds=0.02, token=live_hub.token, owner=owner)
    server = FakeNode(root, "server", item_seconds=0.02, token=live_hub.token)
    async with running(desk, server):
        job = await live_hub.submit(NAPS)
        await working(desk)
        desk.start_owner()
        await until_state(live_hub, "desk", "unavailable")
        ended = await live_hub.wait_for(job["id"], {"completed", "failed"})
    assert ended["status"] == "completed", ended["error"]
    assert ended["variables"]["slept"] == list(range(60))
    assert desk.handed_back > 0
    assert desk.done + desk.handed_back <= desk.received
