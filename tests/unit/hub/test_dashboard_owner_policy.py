"""The dashboard over real HTTP with nodes that report an owner policy: each node's state with its
reason and its policy in the node table and on its page, and the farm's capacity by hour of the
week beside what it delivered, on the overview and in its live stream."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx_sse import aconnect_sse

from witengine.hub.dashboard.week import HOURS
from witengine.protocol import NodeHello, NodeStatus
from witengine.protocol.states import Availability
from witengine.security.tickets import read_ticket
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 30)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(1);
}
"""
REASON = "the owner is back: input 4 s ago"
POLICY = {"hours": "Mon-Fri 20:00-08:00, Sat-Sun", "idle-after": "15m", "vacate-after": "10m"}
SUSPENDED = NodeStatus(
    availability=Availability.SUSPENDED,
    reason=REASON,
    window_seconds=7200.0,
    policy=POLICY,
    week=[0.5] * HOURS,
)


@dataclass
class OwnedNode(FakeNode):
    """A fake node whose hello says what its owner policy lets it do."""

    status: NodeStatus = field(default_factory=NodeStatus)

    def hello(self) -> NodeHello:
        return super().hello().model_copy(update={"status": self.status})


def root(live: LiveHub) -> str:
    return live.url.removesuffix("/api/v1")


async def page(live: LiveHub, path: str) -> str:
    async with httpx.AsyncClient(
        base_url=root(live), headers=live.headers(live.token), timeout=10
    ) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    return response.text


def node_row(table: str, name: str) -> str:
    found = re.search(rf'<tr data-node="{name}">(.*?)</tr>', table, re.S)
    assert found, f"no row for {name}"
    return found.group(1)


async def test_a_suspended_node_shows_its_reason_and_policy_and_the_week_counts_its_windows(
    live_hub: LiveHub,
) -> None:
    desk = OwnedNode(root(live_hub), "desk", slots=2, token=live_hub.token, status=SUSPENDED)
    rack = OwnedNode(root(live_hub), "rack", token=live_hub.token, item_seconds=0.01)
    async with running(desk, rack):
        job = await live_hub.submit(NAPS)
        done = await live_hub.wait_for(job["id"], {"completed", "failed"})
        assert done["status"] == "completed", done["error"]
        assert desk.received == 0, "a suspended node is given no work"

        table = await page(live_hub, "/nodes")
        desk_row = node_row(table, "desk")
        assert '<span class="badge badge-suspended">suspended</span>' in desk_row
        assert f'<div class="reason">{REASON}</div>' in desk_row
        assert "<dt>idle-after</dt><dd>15m</dd>" in desk_row
        assert "none: always available" in node_row(table, "rack")
        assert 'class="reason"' not in node_row(table, "rack")

        mine = await page(live_hub, f"/nodes/{desk.node_id}")
        assert f"Suspended: {REASON}. Its work is frozen on it, kept, not lost." in mine
        assert "<dt>hours</dt><dd>Mon-Fri 20:00-08:00, Sat-Sun</dd>" in mine
        assert "closes in about 2 h" in mine
        assert 'class="week week-available"' in mine
        assert mine.count('title="Mon 03:00–04:00: 1.0 of 2 slots available">1</td>') == 1

        overview = await page(live_hub, "/")
        assert "1 suspended" in overview
        assert 'id="overview-week"' in overview
        zone = re.search(r'<strong class="zone">([^<]+)</strong>', overview)
        assert zone and "UTC" in zone.group(1)
        assert "the 2 connected node(s)" in overview and "3 slot(s) in all" in overview
        # Everywhere: half of the desk's 2 slots and the rack's 1, which has no policy.
        available = overview.partition('class="week week-available"')[2].partition("</table>")[0]
        assert available.count(">2</td>") == HOURS
        assert "336 slot-hours a week" in overview
        delivered = overview.partition('class="week week-delivered"')[2].partition("</table>")[0]
        per_hour = r"slots busy on average, ([\d,]+) items committed per hour"
        committed = re.findall(per_hour, delivered)
        assert len(committed) == HOURS
        assert any(count != "0" for count in committed), "the job's items were delivered"


async def test_the_overview_stream_sends_the_week(live_hub: LiveHub) -> None:
    async with (
        httpx.AsyncClient(
            base_url=root(live_hub), headers=live_hub.headers(live_hub.token), timeout=10
        ) as client,
        aconnect_sse(client, "GET", "/stream?view=overview") as source,
    ):
        async for event in source.aiter_sse():
            data = json.loads(event.data)
            if event.event == "swap" and data["id"] == "overview-week":
                assert "Capacity by hour of the week" in data["html"]
                assert "the 0 connected node(s)" in data["html"]
                break


@dataclass
class PagedNode(FakeNode):
    """A fake node that says in its hello where it serves its own page."""

    status_url: str | None = None

    def hello(self) -> NodeHello:
        return super().hello().model_copy(update={"status_url": self.status_url})


async def test_a_node_page_links_to_the_page_the_node_serves_itself(live_hub: LiveHub) -> None:
    desk = PagedNode(
        root(live_hub), "desk", token=live_hub.token, status_url="http://127.0.0.1:7420/"
    )
    rack = PagedNode(root(live_hub), "rack", token=live_hub.token)
    async with running(desk, rack):
        mine = await page(live_hub, f"/nodes/{desk.node_id}")
        other = await page(live_hub, f"/nodes/{rack.node_id}")
    assert 'Its own page: <a href="http://127.0.0.1:7420/" rel="noreferrer">' in mine
    assert "machine only)" in mine
    assert "Its own page" not in other


@pytest.mark.parametrize(("role", "given"), [(Role.ADMIN, Role.ADMIN), (Role.VIEWER, Role.VIEWER)])
async def test_the_link_to_a_page_open_to_the_lan_carries_a_ticket_for_the_readers_role(
    live_hub: LiveHub, role: Role, given: Role
) -> None:
    desk = PagedNode(
        root(live_hub), "desk", token=live_hub.token, status_url="http://192.168.1.20:7420/"
    )
    async with running(desk):
        mine = await page(live_hub, f"/nodes/{desk.node_id}")
        assert f'<a href="/nodes/{desk.node_id}/own-page" rel="noreferrer">' in mine
        token = live_hub.token if role is Role.ADMIN else live_hub.issue(role)
        async with httpx.AsyncClient(
            base_url=root(live_hub), headers=live_hub.headers(token), timeout=10
        ) as client:
            answer = await client.get(f"/nodes/{desk.node_id}/own-page")
            missing = await client.get("/nodes/node_nobody/own-page")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("http://192.168.1.20:7420/?ticket=")
    assert token not in location  # the token never goes to the node
    text = parse_qs(urlsplit(location).query)["ticket"][0]
    ticket = read_ticket(text, [live_hub.hub.bundles.key.public_key()], desk.node_id, time.time())
    assert ticket.role is given
    assert missing.status_code == 404
