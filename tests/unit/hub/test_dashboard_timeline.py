"""The job page's timeline over real HTTP on 127.0.0.1, with fake nodes on the real WebSocket
protocol: near the end of a map an idle fast node is sent a duplicate of the slow node's last
work, and the page draws that batch hatched, says whose work it copies and which copy won."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import httpx
import pytest

from witengine.protocol.states import JobStatus
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 24)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(i);
}
"""


async def test_a_duplicate_batch_is_drawn_hatched_with_the_node_it_copies_and_who_won(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    fast = FakeNode(root, "fast", item_seconds=0.002, token=live_hub.token)
    slow = FakeNode(root, "slow", item_seconds=0.5, token=live_hub.token)
    async with running(fast, slow):
        response = await live_hub.client.post("/jobs", json={"script": NAPS})
        job_id = response.json()["id"]
        for _ in range(1000):
            job = (await live_hub.client.get(f"/jobs/{job_id}")).json()
            if JobStatus(job["status"]).ended:  # a job is queued a moment before it runs
                break
            await asyncio.sleep(0.02)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["slept"] == list(range(24))
    headers = live_hub.headers(live_hub.token)
    async with httpx.AsyncClient(base_url=root, headers=headers, timeout=10) as client:
        shown = (await client.get(f"/jobs/{job_id}")).text
    duplicate = re.search(
        r'<rect class="bar-(\w+)[^"]* bar-duplicate"[^>]*><title>(batch_\w+) on fast: [^<]*'
        r"; duplicate of work on slow: ([^<]*)</title></rect>\s*<rect class=\"hatch\"",
        shown,
    )
    assert duplicate is not None, shown
    assert 'fill="url(#hatch)"' in shown and '<pattern id="hatch"' in shown
    assert 'class="key key-duplicate"' in shown
    assert re.search(r"\d+ duplicate\(s\), \d+ of which won", shown)
