"""Which of a site's nodes it offers its parent: a real hub on 127.0.0.1 with fake nodes. Those
free to work or kept from it for a moment are offered; one outside its owner's hours or drained
is not, and is offered again once it may work."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from witengine.protocol import NodeStatus
from witengine.protocol.states import Availability
from witengine.security.tokens import Role
from witengine.site.link import offered_nodes
from witengine.testing.fake_nodes import FakeNode, running
from witengine.testing.served import served_hub

pytestmark = pytest.mark.timeout(60)


async def test_a_site_offers_the_nodes_its_owners_let_work(tmp_path: Path) -> None:
    async with served_hub(tmp_path / "site") as served:
        hub = served.hub
        join = hub.book.issue(Role.JOIN).text
        names = ("free", "away", "night", "drained")
        fakes = [FakeNode(served.root, name, join_token=join) for name in names]
        async with running(*fakes):
            ids = {fake.name: str(fake.node_id) for fake in fakes}
            assert all(fake.node_id for fake in fakes)
            names_of = {node_id: name for name, node_id in ids.items()}

            def offered() -> set[str]:
                return {names_of[node_id] for node_id, _ in offered_nodes(hub)}

            assert offered() == set(names)
            suspended = NodeStatus(availability=Availability.SUSPENDED, reason="at the keyboard")
            hub.dispatcher.handle(ids["away"], suspended)
            outside = NodeStatus(availability=Availability.UNAVAILABLE, reason="outside its hours")
            hub.dispatcher.handle(ids["night"], outside)
            assert hub.dispatcher.drain(ids["drained"])
            assert offered() == {"free", "away"}  # suspended for a moment: still offered
            hub.dispatcher.handle(ids["night"], NodeStatus())
            assert offered() == {"free", "away", "night"}
        for _ in range(200):  # the hub hears the links close within a few turns of its loop
            if not offered_nodes(hub):
                break
            await asyncio.sleep(0.05)
        assert offered_nodes(hub) == []
