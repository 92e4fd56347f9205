"""Untrusted nodes on a real hub over HTTP and WebSockets on 127.0.0.1, with the plugins'
comparers: two honest volunteers of different owners and one that returns garbage. The job
completes with the right results, every item verified by two owners, and the cheater ends
blocked, told, and in the audit log."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from witengine.protocol.states import JobStatus
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 16)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(i);
}
"""


def garbage(activity: str, args: list[Any]) -> int:
    return -1


async def test_a_cheating_volunteer_is_caught_and_nothing_it_made_up_is_committed(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    nodes = [
        FakeNode(root, "alice", item_seconds=0.002, token=live_hub.token),
        FakeNode(root, "bob", item_seconds=0.002, token=live_hub.token),
        FakeNode(root, "mallory", item_seconds=0.002, token=live_hub.token, value=garbage),
    ]
    dispatcher = live_hub.hub.dispatcher
    async with running(*nodes):
        for node in nodes:  # what their pool and owner will say once they join by a token
            assert node.node_id is not None
            link = dispatcher._state.nodes[node.node_id]
            link.trusted, link.owner = False, node.name
        # They stay in the default pool, untrusted: the job names it, as it must to use them.
        job = {"script": NAPS, "pools": ["default"]}
        response = await live_hub.client.post("/jobs", json=job)
        job_id = response.json()["id"]
        for _ in range(1000):
            job = (await live_hub.client.get(f"/jobs/{job_id}")).json()
            if JobStatus(job["status"]).ended:
                break
            await asyncio.sleep(0.02)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["slept"] == list(range(16))
    mallory = nodes[2].node_id
    assert mallory is not None
    assert dispatcher.view.trust(mallory, "Compute.Sleep").state == "blocked"
    assert [r.state for r in live_hub.hub.store.list_reputation(mallory)] == ["blocked"]
    audited = [r for r in live_hub.hub.store.audit() if r.action == "node.trust"]
    assert any(r.target.startswith(mallory) and r.outcome == "blocked" for r in audited)
    computed = sum(node.received for node in nodes)
    assert computed >= 2 * 16, "every item was computed by two owners at least"
