"""`GET /nodes` keeps each node's entry while what it is made from is the same, and makes it
again the moment a part changes: a real hub on 127.0.0.1 with fake nodes speaking the protocol."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from pydantic import TypeAdapter

from witengine import __version__
from witengine.hub.routes.node_list import NodeListing
from witengine.protocol import BenchmarkReport, NodeSummary
from witengine.protocol.states import NodeState, PoolTier
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)
SUMMARIES = TypeAdapter(list[NodeSummary])
RATE = BenchmarkReport(
    activity="Compute.Sleep",
    unit="milliseconds@1",
    rate=900.0,
    elapsed=1.0,
    iterations=9,
    plugin="compute",
    plugin_version=__version__,
)


async def test_the_json_made_of_kept_parts_is_the_list_of_models_after_every_change(
    live_hub: LiveHub,
) -> None:
    """The JSON kept in parts reads back as the models made afresh: connected nodes with
    their rates, one drained and resumed, moved to an untrusted pool, its pool made trusted,
    both gone."""
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    hub = live_hub.hub
    listing = NodeListing()

    def same() -> list[NodeSummary]:
        made = NodeListing().summaries(hub.dispatcher, hub.store)
        assert SUMMARIES.validate_json(listing.json(hub.dispatcher, hub.store)) == made
        return made

    still = FakeNode(root, "still", join_token=join)
    moved = FakeNode(root, "moved", join_token=join, benchmarks=[RATE])
    client = live_hub.client
    async with running(still, moved):
        assert {s.name: s.state for s in same()} == {"still": "idle", "moved": "idle"}
        assert same() and moved.node_id is not None
        assert [r.rate for r in {s.name: s for s in same()}["moved"].rates] == [900.0]
        assert hub.dispatcher.drain(moved.node_id)
        assert {s.name: s.state for s in same()} == {"still": "idle", "moved": "drained"}
        assert hub.dispatcher.drain(moved.node_id, drained=False)
        assert {s.name: s.state for s in same()} == {"still": "idle", "moved": "idle"}
        assert (await client.post("/pools", json={"name": "volunteers"})).status_code == 201
        placed = await client.post(f"/nodes/{moved.node_id}/place", json={"pool": "volunteers"})
        assert placed.status_code == 200, placed.text
        assert {s.name: s.tier for s in same()}["moved"] == PoolTier.UNTRUSTED
        made = await client.patch("/pools/volunteers", json={"tier": "trusted"})
        assert made.status_code == 200, made.text
        assert {s.name: s.tier for s in same()}["moved"] == PoolTier.TRUSTED
    for _ in range(200):  # the hub hears the links close within a few turns of its loop
        if {s.state for s in same()} == {NodeState.OFFLINE}:
            break
        await asyncio.sleep(0.05)
    assert {s.name: s.state for s in same()} == {"still": "offline", "moved": "offline"}


async def test_the_route_answers_every_change_at_once(live_hub: LiveHub) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    async with running(FakeNode(root, "busy", join_token=join)) as (node,):
        listed = (await live_hub.client.get("/nodes")).json()
        assert [(n["name"], n["state"]) for n in listed] == [("busy", "idle")]
        assert node.node_id is not None
        drained = await live_hub.client.post(f"/nodes/{node.node_id}/drain")
        assert drained.status_code == 200, drained.text
        listed = (await live_hub.client.get("/nodes")).json()
        assert [(n["name"], n["state"]) for n in listed] == [("busy", "drained")]
        await live_hub.client.post(f"/nodes/{node.node_id}/resume")
        listed = (await live_hub.client.get("/nodes")).json()
        assert [(n["name"], n["state"]) for n in listed] == [("busy", "idle")]
