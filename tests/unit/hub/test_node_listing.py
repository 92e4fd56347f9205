"""`GET /nodes` keeps each node's entry while what it is made from is the same, and makes it
again the moment a part changes: a real hub on 127.0.0.1 with fake nodes speaking the protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import TypeAdapter

from witengine.hub.routes.node_list import NodeListing
from witengine.protocol import NodeSummary
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)
SUMMARIES = TypeAdapter(list[NodeSummary])


async def test_an_unchanged_node_keeps_its_entry_and_a_changed_one_is_made_again(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    hub = live_hub.hub
    listing = NodeListing()
    async with running(
        FakeNode(root, "still", join_token=join), FakeNode(root, "moved", join_token=join)
    ):
        first = {s.name: s for s in listing.summaries(hub.dispatcher, hub.store)}
        assert set(first) == {"still", "moved"}
        again = {s.name: s for s in listing.summaries(hub.dispatcher, hub.store)}
        assert again["still"] is first["still"] and again["moved"] is first["moved"]

        assert hub.dispatcher.drain(first["moved"].id)
        drained = {s.name: s for s in listing.summaries(hub.dispatcher, hub.store)}
        assert drained["still"] is first["still"]
        assert drained["moved"] is not first["moved"] and drained["moved"].state == "drained"
        # the JSON the route answers is the same list, as the API's model reads it
        assert SUMMARIES.validate_json(listing.json(hub.dispatcher, hub.store)) == list(
            drained.values()
        )


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
