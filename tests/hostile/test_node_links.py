"""Hostile input (issue 15): a node link speaks for a node only with that node's credential.

A browser's session cookie (sent with a WebSocket handshake another site starts) or an admin's
token opens no node link; a second link of a connected node, with its credential, replaces the
first without the node ever showing offline; another node's credential cannot take its place.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from witengine.protocol import API_PREFIX, Welcome
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, node_link, running

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

pytestmark = pytest.mark.timeout(60)
SLEEPS = "Job:A() { IntCollection:s = Grid.ForEach(i in Int.Range(0, 3)) => Compute.Sleep(i); }"


async def enrolled(hub: HostileHub, name: str) -> dict[str, Any]:
    """A node's credential and id, as `wit node --token <join token>` gets them."""
    async with hub.client(hub.issue(Role.JOIN)) as joining:
        answer = await joining.post(f"{API_PREFIX}/nodes/enrol", json={"name": name})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def node_state(hub: HostileHub, node_id: str) -> str:
    async with hub.client(hub.admin) as admin:
        nodes = (await admin.get(f"{API_PREFIX}/nodes")).json()
    return str(next(n["state"] for n in nodes if n["id"] == node_id))


async def a_job_completes(hub: HostileHub) -> None:
    async with hub.client(hub.admin) as admin:
        job = (await admin.post(f"{API_PREFIX}/jobs", json={"script": SLEEPS})).json()
        for _ in range(500):  # bounded: a few items on a fake node take well under a second
            status = (await admin.get(f"{API_PREFIX}/jobs/{job['id']}")).json()["status"]
            if status not in ("queued", "running"):
                break
            await asyncio.sleep(0.02)
    assert status == "completed", status


async def test_a_browser_session_from_another_site_opens_no_node_link(
    hostile_hub: HostileHub,
) -> None:
    victim = FakeNode(hostile_hub.root, "victim", join_token=hostile_hub.issue(Role.JOIN))
    async with running(victim):
        url = f"{hostile_hub.ws_root}{API_PREFIX}/nodes/connect"
        # What a page on another site makes a signed-in admin's browser send.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                url,
                origin=websockets.Origin("http://evil.example"),
                additional_headers={
                    "Cookie": f"wit_session={hostile_hub.admin}",
                    "Sec-Fetch-Site": "cross-site",
                },
                proxy=None,
            ) as link:
                hello = FakeNode(hostile_hub.root, "evil", node_id=victim.node_id).hello()
                await link.send(hello.model_dump_json())
                await asyncio.wait_for(link.recv(), 10)
        assert refused.value.response.status_code == 401
        assert b"a node link needs" in (refused.value.response.body or b"")
        assert victim.node_id is not None
        assert await node_state(hostile_hub, victim.node_id) == "idle"
        await a_job_completes(hostile_hub)


async def test_an_admin_token_opens_no_node_link_and_another_nodes_credential_no_takeover(
    hostile_hub: HostileHub,
) -> None:
    victim = FakeNode(hostile_hub.root, "victim", join_token=hostile_hub.issue(Role.JOIN))
    async with running(victim):
        assert victim.node_id is not None
        impostor = FakeNode(hostile_hub.root, "impostor", node_id=victim.node_id)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with node_link(hostile_hub.root, hostile_hub.admin) as link:
                await link.send(impostor.hello().model_dump_json())
                await asyncio.wait_for(link.recv(), 10)
        assert refused.value.response.status_code == 403
        other = await enrolled(hostile_hub, "other")
        async with node_link(hostile_hub.root, other["token"]) as link:
            await link.send(impostor.hello().model_dump_json())
            welcome = Welcome.model_validate_json(await asyncio.wait_for(link.recv(), 10))
            assert welcome.node_id == other["node_id"]  # its own id, not the one it named
        assert await node_state(hostile_hub, victim.node_id) == "idle"
        await a_job_completes(hostile_hub)


async def test_a_node_linking_again_replaces_its_old_link_and_never_shows_offline(
    hostile_hub: HostileHub,
) -> None:
    """A node whose old connection the hub still holds open (a network that dropped it without
    a close) connects again: the new link, with the node's credential, is the node's."""
    node = await enrolled(hostile_hub, "flaky")
    hello = FakeNode(hostile_hub.root, "flaky").hello().model_dump_json()
    async with node_link(hostile_hub.root, node["token"]) as old:
        await old.send(hello)
        Welcome.model_validate_json(await asyncio.wait_for(old.recv(), 10))
        async with node_link(hostile_hub.root, node["token"]) as new:
            await new.send(hello)
            welcome = Welcome.model_validate_json(await asyncio.wait_for(new.recv(), 10))
            assert welcome.node_id == node["node_id"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(100):  # bounded: the hub closes the old link at once
                    await asyncio.wait_for(old.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert "connected again" in closed.value.rcvd.reason
            await old.wait_closed()
            async with hostile_hub.client(hostile_hub.admin) as admin:
                for _ in range(20):  # a few turns of the hub, in which the old link's end ran
                    await admin.get(f"{API_PREFIX}/health")
            assert await node_state(hostile_hub, node["node_id"]) == "idle"
