"""Nodes' reputation over real HTTP on 127.0.0.1: a node caught wrong is blocked, told, kept so
in the store and the audit log, shown by `GET /nodes/{id}/reputation`, in `GET /nodes`, on its
dashboard page and by `wit nodes --reputation`; and a hub that restarts keeps it blocked."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.unit.hub.test_node_admin import wit

from witengine.clock import SystemClock
from witengine.hub.dispatch import Dispatcher, verifying
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)
ACTIVITY = "Compute.Sleep"


async def test_a_node_caught_wrong_is_blocked_audited_listed_and_stays_blocked(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    node = FakeNode(root, "volunteer", join_token=live_hub.issue(Role.JOIN))
    state = live_hub.hub.dispatcher._state
    async with running(node):
        assert node.node_id is not None
        link = state.nodes[node.node_id]
        link.trusted, link.owner = False, "alice"  # what its pool and token will say
        verifying.caught(state, link, ACTIVITY, "its result for item 3 disagreed")
        await asyncio.sleep(0)
    (record,) = live_hub.hub.store.list_reputation(node.node_id)
    assert (record.activity, record.state, record.rejected) == (ACTIVITY, "blocked", 1)
    (line,) = [r for r in live_hub.hub.store.audit() if r.action == "node.trust"]
    assert line.outcome == "blocked"
    assert line.target == f"{node.node_id} {ACTIVITY}: its result disagreed with the accepted one"

    answer = await live_hub.client.get(f"/nodes/{node.node_id}/reputation")
    assert answer.status_code == 200, answer.text
    assert [(r["activity"], r["state"], r["rejected"]) for r in answer.json()] == [
        (ACTIVITY, "blocked", 1)
    ]
    listed = (await live_hub.client.get("/nodes")).json()
    assert listed[0]["reputation"][0]["state"] == "blocked"
    missing = await live_hub.client.get("/nodes/node_nobody/reputation")
    assert missing.status_code == 404 and "no node node_nobody" in missing.json()["detail"]

    headers = live_hub.headers(live_hub.token)
    async with httpx.AsyncClient(base_url=root, headers=headers, timeout=10) as client:
        page = (await client.get(f"/nodes/{node.node_id}")).text
    assert "<h2>Reputation</h2>" in page
    assert f"<tr><td><code>{ACTIVITY}</code></td><td>blocked</td>" in page, page

    code, out, err = await wit(live_hub.token, "nodes", "--hub", root, "--reputation")
    assert code == 0, err
    assert "volunteer" in out and ACTIVITY in out and "blocked" in out, out
    assert "0 passed, 0 failed" in out

    again = Dispatcher(live_hub.hub.store, SystemClock())  # the hub restarted
    assert again.view.trust(node.node_id, ACTIVITY).state == "blocked"
