"""Fair share between buyers on a small farm, over the hub's API on 127.0.0.1: three fake nodes
(the real WebSocket protocol) of a seller's account with one ask, and buyers whose signed jobs
wait for them. Two jobs at one bid each get about half the nodes' work while both have work
(without fair share the older job would take every node until its last item was out); a job
bidding higher gets every item out before the lower bid gets any, though submitted after it."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from witengine.clock import wall_time
from witengine.protocol import API_PREFIX
from witengine.security.accounts import AccountKey
from witengine.security.signing import sign_request
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(120)

SCRIPT = """\
Job:Bought(Int:n = 60)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n), "Queued") => Compute.Sleep(1);
}
"""
ITEMS = 60
ASK = 1000  # milli-credits a work unit; an item is a unit (Compute.Sleep(1): a millisecond)


async def signed(
    live: LiveHub, key: AccountKey, method: str, path: str, body: Any
) -> httpx.Response:
    content = json.dumps(body).encode()
    headers = sign_request(key.private, key.name, method, API_PREFIX + path, content, wall_time())
    headers["content-type"] = "application/json"
    return await live.client.request(method, path, content=content, headers=headers)


async def market(live: LiveHub, buyers: tuple[str, ...]) -> dict[str, AccountKey]:
    keys = {name: AccountKey.make(name) for name in ("farm", *buyers)}
    for key in keys.values():
        made = {"name": key.name, "public_key": key.public_key}
        assert (await live.client.post("/accounts", json=made)).status_code == 201
    for buyer in buyers:
        granted = await live.client.post(f"/accounts/{buyer}/grant", json={"amount": 10**7})
        assert granted.is_success, granted.text
    ask = {"activity": "Compute.Sleep", "price": ASK}
    assert (await signed(live, keys["farm"], "POST", "/asks", ask)).status_code == 201
    return keys


async def submit(live: LiveHub, key: AccountKey, bid: int) -> str:
    job = {"script": SCRIPT, "parameters": {"n": str(ITEMS)}, "bid": {"price": bid}}
    made = await signed(live, key, "POST", "/jobs", job)
    assert made.status_code == 201, made.text
    job_id = str(made.json()["id"])
    for _ in range(500):  # bounded: its map open and waiting for the farm's nodes
        if (await live.client.get(f"/jobs/{job_id}")).json()["waiting"]:
            return job_id
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never waited for a seller")


async def farm(live: LiveHub) -> list[FakeNode]:
    token = await live.client.post("/tokens", json={"role": "node", "owner": "farm"})
    assert token.status_code == 201, token.text
    root = live.url.removesuffix(API_PREFIX)
    return [
        FakeNode(root, f"farm-{i}", activities=("Compute.Sleep",), item_seconds=0.01,
                 join_token=token.json()["token"])
        for i in range(3)
    ]  # fmt: skip


async def trades_of(live: LiveHub, job_id: str) -> list[dict[str, Any]]:
    found = (await live.client.get("/trades", params={"job": job_id})).json()
    return sorted(found, key=lambda t: t["created_at"])


async def test_two_buyers_at_one_bid_each_get_about_half_the_farm(live_hub: LiveHub) -> None:
    keys = await market(live_hub, ("ann", "bo"))
    older = await submit(live_hub, keys["ann"], 2000)
    newer = await submit(live_hub, keys["bo"], 2000)
    async with running(*await farm(live_hub)):
        ended = [await live_hub.wait_for(j, {"completed"}) for j in (older, newer)]
    first_done = min(job["finished_at"] for job in ended)
    given = {}
    for job_id in (older, newer):
        trades = await trades_of(live_hub, job_id)
        given[job_id] = sum(t["items"] for t in trades if t["created_at"] < first_done)
    # While both had work, each was given about half of what the nodes were given.
    total = sum(given.values())
    assert total >= ITEMS, given
    assert all(0.3 * total <= items <= 0.7 * total for items in given.values()), given
    assert (await live_hub.client.get("/ledger/verify")).json()["ok"]


async def test_a_higher_bid_gets_its_work_out_first(live_hub: LiveHub) -> None:
    keys = await market(live_hub, ("ann", "cy"))
    low = await submit(live_hub, keys["ann"], 2000)
    high = await submit(live_hub, keys["cy"], 3000)
    async with running(*await farm(live_hub)):
        for job_id in (high, low):
            await live_hub.wait_for(job_id, {"completed"})
    high_trades, low_trades = await trades_of(live_hub, high), await trades_of(live_hub, low)
    first_low = low_trades[0]["created_at"]
    before = sum(t["items"] for t in high_trades if t["created_at"] < first_low)
    assert before >= ITEMS, (before, first_low)  # every item of the higher bid was out first
    assert {t["price"] for t in high_trades + low_trades} == {ASK}  # both paid at the ask
