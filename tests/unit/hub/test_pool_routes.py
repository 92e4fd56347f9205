"""Pools over the hub's API on 127.0.0.1, with fake nodes: an admin adds a pool and moves a
connected node into it, and the node's next work, `GET /nodes` and the dashboard follow at once;
other roles are refused; a job that names the pool runs there. Every change is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

NAPS = """\
Job:Naps(Int:n = 4)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(1);
}
"""


async def run_job(live: LiveHub, n: int) -> dict[str, Any]:
    submitted = await live.submit(NAPS, n=str(n))
    return await live.wait_for(submitted["id"], {"completed", "failed", "cancelled"})


async def page(live: LiveHub, path: str) -> str:
    root = live.url.removesuffix("/api/v1")
    async with httpx.AsyncClient(base_url=root, headers=live.headers(live.token)) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    return response.text


async def test_a_node_moved_to_an_untrusted_pool_gets_only_the_jobs_that_name_it(
    live_hub: LiveHub,
) -> None:
    client = live_hub.client
    added = await client.post("/pools", json={"name": "volunteers"})
    assert added.status_code == 201 and added.json()["tier"] == "untrusted"
    root = live_hub.url.removesuffix("/api/v1")
    alpha, beta = (FakeNode(root, n, item_seconds=0.002, token=live_hub.token) for n in "ab")
    async with running(alpha, beta):
        moved = await client.post(
            f"/nodes/{beta.node_id}/place", json={"pool": "volunteers", "owner": "ada"}
        )
        assert moved.status_code == 200, moved.text
        assert (moved.json()["pool"], moved.json()["tier"]) == ("volunteers", "untrusted")
        listed = {n["name"]: n for n in (await client.get("/nodes")).json()}
        assert (listed["b"]["pool"], listed["b"]["owner"]) == ("volunteers", "ada")
        assert listed["a"]["tier"] == "trusted"
        table = await page(live_hub, "/nodes")
        assert "volunteers" in table and "untrusted" in table and "ada" in table
        job = await run_job(live_hub, 20)
        assert job["status"] == "completed" and (alpha.done, beta.done) == (20, 0)
        trusted = await client.patch("/pools/volunteers", json={"tier": "trusted"})
        assert trusted.json() == {**trusted.json(), "tier": "trusted", "nodes": 1}
        await run_job(live_hub, 200)
        assert beta.done > 0, "a node of a pool made trusted got no work"
    unknown = await client.post(f"/nodes/{beta.node_id}/place", json={"pool": "nowhere"})
    assert unknown.status_code == 404 and "no pool named 'nowhere'" in unknown.json()["detail"]
    actions = [(r.action, r.outcome) for r in live_hub.hub.store.audit()]
    assert ("pool.add", "ok") in actions and ("node.place", "ok") in actions
    assert ("pool.tier", "ok") in actions and ("node.place", "unknown pool") in actions


async def test_only_admins_manage_pools(live_hub: LiveHub) -> None:
    headers = live_hub.headers(live_hub.issue(Role.SUBMITTER))
    for method, path, body in [
        ("GET", "/pools", None),
        ("POST", "/pools", {"name": "mine"}),
        ("PATCH", "/pools/default", {"tier": "trusted"}),
        ("POST", "/nodes/node_x/place", {"pool": "default"}),
    ]:
        response = await live_hub.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
    assert live_hub.hub.store.get_pool("mine") is None
