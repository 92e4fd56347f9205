"""A node's credential and its owner's console on the hub's API (127.0.0.1): a node reads its
owner's balance and statement only with each request signed by the account's key, never
another account's, never the whole ledger, never unsigned or with a stale or wrong signature;
and it carries the owner's signed transfer. Each refusal is a clear 4xx."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from witengine.client import signed_headers, transfer_request
from witengine.clock import wall_time
from witengine.protocol import API_PREFIX
from witengine.security.accounts import AccountKey
from witengine.security.signing import sign_request
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub


async def owners(live: LiveHub) -> tuple[AccountKey, AccountKey, httpx.AsyncClient]:
    alice, bob = AccountKey.make("alice"), AccountKey.make("bob")
    for key in (alice, bob):
        body = {"name": key.name, "public_key": key.public_key}
        assert (await live.client.post("/accounts", json=body)).status_code == 201
    await live.client.post("/accounts/alice/grant", json={"amount": 5000})
    node = live.issue(Role.NODE, node_id="node_desk", label="desk")
    client = httpx.AsyncClient(base_url=live.url, headers=live.headers(node), timeout=10)
    return alice, bob, client


async def test_a_node_reads_its_owners_account_only_signed_by_the_accounts_key(
    live_hub: LiveHub,
) -> None:
    alice, bob, node = await owners(live_hub)
    async with node:
        path = "/accounts/alice/balance"
        balance = await node.get(path, headers=signed_headers(alice, "GET", path))
        assert balance.status_code == 200 and balance.json()["balance"] == 5000
        lines = await node.get(
            "/ledger", params={"account": "alice"}, headers=signed_headers(alice, "GET", "/ledger")
        )
        assert lines.status_code == 200 and [line["balance"] for line in lines.json()] == [5000]

        unsigned = await node.get("/ledger", params={"account": "alice"})
        assert unsigned.status_code == 400
        assert "a node reads only its owner's account" in unsigned.json()["detail"]
        whole = await node.get("/ledger", headers=signed_headers(alice, "GET", "/ledger"))
        assert whole.status_code == 403 and "?account=NAME" in whole.json()["detail"]
        other = await node.get(
            "/ledger", params={"account": "bob"}, headers=signed_headers(alice, "GET", "/ledger")
        )
        assert other.status_code == 403 and "may read only its own" in other.json()["detail"]
        forged = sign_request(bob.private, "alice", "GET", f"{API_PREFIX}/ledger", b"", wall_time())
        wrong = await node.get("/ledger", params={"account": "alice"}, headers=forged)
        assert wrong.status_code == 401 and "not account 'alice'" in wrong.json()["detail"]
        stale = sign_request(
            alice.private, "alice", "GET", f"{API_PREFIX}/ledger", b"", wall_time() - 3600
        )
        late = await node.get("/ledger", params={"account": "alice"}, headers=stale)
        assert late.status_code == 401 and "stale signature" in late.json()["detail"]
        listing = await node.get("/accounts")
        assert listing.status_code == 403


async def test_a_node_carries_its_owners_signed_transfer(live_hub: LiveHub) -> None:
    alice, _, node = await owners(live_hub)
    async with node:
        body, headers = transfer_request(alice, "bob", 1500, "thanks")
        paid = await node.post("/ledger/transfers", content=body, headers=headers)
        assert paid.status_code == 200, paid.text
        unsigned = await node.post("/ledger/transfers", json={"to": "bob", "amount": 1})
        assert unsigned.status_code == 400
    bob = (await live_hub.client.get("/accounts/bob/balance")).json()
    assert bob["balance"] == 1500
