"""Result receipts over the hub's API on 127.0.0.1, with fake nodes (the real WebSocket
protocol) of a seller's account: a node holding its owner's key signs each results upload of a
paid batch, the hub keeps the receipts with the trade (GET /trades/{id}) and `ledger/verify`
checks them again; a node signing with a key that is not its owner's has its results refused
(the trade rejected, saying why, the batch cancelled on the node) and sells no more, its items
going to another node; a node without its owner's key sells, its uploads marked unsigned."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from tests.unit.hub.test_fair_share_live import market, submit

from witengine.protocol import API_PREFIX
from witengine.security.accounts import AccountKey
from witengine.security.receipts import digest
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(120)


async def node(live: LiveHub, name: str, key: AccountKey | None) -> FakeNode:
    token = await live.client.post("/tokens", json={"role": "node", "owner": "farm"})
    assert token.status_code == 201, token.text
    root = live.url.removesuffix(API_PREFIX)
    return FakeNode(root, name, item_seconds=0.01, join_token=token.json()["token"],
                    account_key=key)  # fmt: skip


async def details(live: LiveHub, job_id: str) -> list[dict[str, Any]]:
    found = (await live.client.get("/trades", params={"job": job_id})).json()
    return [(await live.client.get(f"/trades/{t['id']}")).json() for t in found]


def uploads(trade: dict[str, Any]) -> list[str]:
    return [p["detail"] for p in trade["phases"] if p["phase"] == "results uploaded"]


async def test_a_node_with_its_owners_key_signs_receipts_the_trade_keeps(
    live_hub: LiveHub,
) -> None:
    keys = await market(live_hub, ("ann",))
    job_id = await submit(live_hub, keys["ann"], 2000)
    async with running(await node(live_hub, "signer", keys["farm"])):
        await live_hub.wait_for(job_id, {"completed"})
    trades = await details(live_hub, job_id)
    assert trades and all(t["state"] == "settled" for t in trades), [
        (t["state"], t["phases"]) for t in trades if t["state"] != "settled"
    ]
    delivered = 0
    for trade in trades:
        kept = [s for s in trade["signed"] if s["method"] == "RECEIPT"]
        assert kept and len(kept) == len(uploads(trade)), trade
        assert all(", receipt signed by farm" in d for d in uploads(trade)), trade
        for receipt in kept:
            assert receipt["account"] == "farm"
            assert receipt["path"] == f"{API_PREFIX}/trades/{trade['id']}"
            body = json.loads(receipt["body"])
            assert body["trade"] == trade["id"]
            for _, index, _, sha in body["items"]:  # Compute.Sleep(1) returns its argument
                assert sha == digest(True, 1, None), (index, sha)
            delivered += len(body["items"])
    assert delivered == sum(t["accepted"] for t in trades) == 60
    verdict = (await live_hub.client.get("/ledger/verify")).json()
    assert verdict["ok"] and verdict["signed_requests"] >= len(trades) + 2, verdict


async def test_a_wrong_key_is_refused_and_a_keyless_node_sells_unsigned(
    live_hub: LiveHub,
) -> None:
    keys = await market(live_hub, ("ann",))
    job_id = await submit(live_hub, keys["ann"], 2000)
    forger = await node(live_hub, "forger", AccountKey.make("farm"))  # not the owner's key
    async with running(forger):
        for _ in range(500):  # bounded: until its first upload was refused
            trades = await details(live_hub, job_id)
            if any(t["state"] == "rejected" for t in trades):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"the forger's results were never refused: {trades}")
        async with running(await node(live_hub, "keyless", None)):
            await live_hub.wait_for(job_id, {"completed"})
    trades = await details(live_hub, job_id)
    refused = [t for t in trades if t["node_name"] == "forger"]
    assert refused and all(t["state"] == "rejected" and t["paid"] == 0 for t in refused)
    reasons = [p["detail"] for t in refused for p in t["phases"] if p["phase"] == "rejected"]
    assert all("node forger cannot sell for account farm" in r for r in reasons), reasons
    assert any("a wrong key" in r for r in reasons), reasons
    assert forger.cancels >= 1  # the node was told, with the reason (its log says it)
    sold = [t for t in trades if t["node_name"] == "keyless"]
    assert sum(t["accepted"] for t in sold) == 60
    assert all("unsigned: node keyless holds no key of account farm" in d
               for t in sold for d in uploads(t))  # fmt: skip
    assert not [s for t in trades for s in t["signed"] if s["method"] == "RECEIPT"]
    assert (await live_hub.client.get("/ledger/verify")).json()["ok"]
