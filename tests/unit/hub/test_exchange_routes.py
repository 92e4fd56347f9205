"""Accounts and the ledger over the hub's API on 127.0.0.1: registering (active for an admin
or an account token, pending otherwise, then approved), grants, balances, statements, and
signed transfers; a replayed, stale, wrongly signed or malformed transfer is a clear 4xx and
moves nothing. Every change and refusal is audited; the ledger verifies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from witengine.clock import wall_time
from witengine.protocol import API_PREFIX
from witengine.security.accounts import AccountKey
from witengine.security.files import read_private
from witengine.security.signing import (
    SIGNATURE_HEADER,
    read_headers,
    sign_request,
    verifies,
)
from witengine.security.tokens import Role
from witengine.testing.served import served_hub

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

PATH = "/api/v1/ledger/transfers"


async def register(live: LiveHub, key: AccountKey, token: str | None = None) -> httpx.Response:
    headers = live.headers(token) if token else {}
    body = {"name": key.name, "public_key": key.public_key}
    return await live.client.post("/accounts", json=body, headers=headers)


def signed_body(
    key: AccountKey,
    to: str,
    amount: int,
    *,
    at: float | None = None,
    signer: AccountKey | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = f'{{"to": "{to}", "amount": {amount}}}'.encode()
    who = signer or key
    headers = sign_request(who.private, key.name, "POST", PATH, body, at or wall_time())
    return body, {**headers, "content-type": "application/json"}


def _headers_of(kept: dict[str, Any]) -> dict[str, Any]:
    """A kept signed request's signature, as the headers it came with."""
    return {
        "X-Wit-Account": kept["account"],
        "X-Wit-Timestamp": kept["timestamp"],
        "X-Wit-Nonce": kept["nonce"],
        "X-Wit-Signature": kept["signature"],
    }


async def send(live: LiveHub, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await live.client.post("/ledger/transfers", content=body, headers=headers)


async def state(live: LiveHub) -> Any:
    return (await live.client.get("/ledger")).json()


async def test_accounts_register_active_or_pending_by_the_token_that_asks(
    live_hub: LiveHub,
) -> None:
    made = await register(live_hub, AccountKey.make("alice"))
    assert made.status_code == 201 and made.json()["state"] == "active"
    viewer = live_hub.issue(Role.VIEWER)
    pending = await register(live_hub, AccountKey.make("bob"), viewer)
    assert pending.json()["state"] == "pending"
    once = live_hub.issue(Role.ACCOUNT, max_uses=1)
    assert (await register(live_hub, AccountKey.make("carol"), once)).json()["state"] == "active"
    used_up = await register(live_hub, AccountKey.make("dan"), once)
    assert used_up.status_code == 403 and "registered all it may" in used_up.json()["detail"]
    again = await register(live_hub, AccountKey.make("alice"))
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    bad = await live_hub.client.post("/accounts", json={"name": "mint", "public_key": "A" * 44})
    assert bad.status_code in (400, 422)
    refused = await live_hub.client.post("/accounts/bob/approve", headers=live_hub.headers(viewer))
    assert refused.status_code == 403
    grant = await live_hub.client.post("/accounts/bob/grant", json={"amount": 5})
    assert grant.status_code == 404 and "waiting for an admin's approval" in grant.text
    approved = await live_hub.client.post("/accounts/bob/approve")
    assert approved.json()["state"] == "active"
    actions = [(a["action"], a["outcome"]) for a in (await live_hub.client.get("/audit")).json()]
    assert ("account.create", "pending") in actions and ("account.approve", "ok") in actions
    assert ("account.create", "refused: exists") in actions


async def test_a_signed_transfer_moves_credits_and_every_bad_one_moves_nothing(
    live_hub: LiveHub,
) -> None:
    alice, bob = AccountKey.make("alice"), AccountKey.make("bob")
    for key in (alice, bob):
        await register(live_hub, key)
    granted = await live_hub.client.post("/accounts/alice/grant", json={"amount": 10_000})
    assert granted.status_code == 200, granted.text
    body, headers = signed_body(alice, "bob", 2500)
    paid = await send(live_hub, body, headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["actor"].startswith("account alice (signed ")
    balance = (await live_hub.client.get("/accounts/alice/balance")).json()
    assert balance == {**balance, "account": "alice", "balance": 7500, "credits": "7.500"}
    before = await state(live_hub)

    replay = await send(live_hub, body, headers)
    assert replay.status_code == 409 and "replayed" in replay.json()["detail"]
    stale = await send(live_hub, *signed_body(alice, "bob", 100, at=wall_time() - 3600))
    assert stale.status_code == 401 and "stale signature" in stale.json()["detail"]
    wrong = await send(live_hub, *signed_body(alice, "bob", 100, signer=bob))
    assert wrong.status_code == 401 and "not account 'alice'" in wrong.json()["detail"]
    body, headers = signed_body(alice, "bob", 100)
    malformed = await send(live_hub, body, {**headers, SIGNATURE_HEADER: "x"})
    assert malformed.status_code == 400 and SIGNATURE_HEADER in malformed.json()["detail"]
    tampered = await send(live_hub, body.replace(b"100", b"900"), headers)
    assert tampered.status_code == 401
    unsigned = await live_hub.client.post("/ledger/transfers", json={"to": "bob", "amount": 1})
    assert unsigned.status_code == 400 and "must be signed" in unsigned.json()["detail"]
    stranger = AccountKey.make("zed")
    unknown = await send(live_hub, *signed_body(stranger, "bob", 1))
    assert unknown.status_code == 401 and "no account named 'zed'" in unknown.json()["detail"]
    to_nobody = await send(live_hub, *signed_body(alice, "nobody", 1))
    assert to_nobody.status_code == 404
    overdrawn = await send(live_hub, *signed_body(alice, "bob", 99_999))
    assert overdrawn.status_code == 409 and "7.500 credits" in overdrawn.json()["detail"]
    negative = await send(live_hub, *signed_body(alice, "bob", -5))
    assert negative.status_code == 422
    assert await state(live_hub) == before

    statement = (await live_hub.client.get("/ledger", params={"account": "alice"})).json()
    assert [(line["kind"], line["balance"]) for line in statement] == [
        ("grant", 10_000),
        ("transfer", 7500),
    ]
    verdict = (await live_hub.client.get("/ledger/verify")).json()
    assert verdict["ok"] and verdict["transactions"] == 2
    # Every request the account truly signed is kept, whatever came of it: the transfer, and
    # those refused after their signature held (to no account, overdrawn, a negative amount).
    assert verdict["signed_requests"] == 4
    kept = (await live_hub.client.get("/accounts/alice/signed")).json()
    assert kept[0]["body"] == '{"to": "bob", "amount": 2500}'
    again = read_headers({k: str(v) for k, v in _headers_of(kept[0]).items()})
    assert verifies(alice.public_key, again, "POST", PATH, kept[0]["body"].encode())
    audit = [(a["action"], a["outcome"]) for a in (await live_hub.client.get("/audit")).json()]
    assert ("ledger.transfer", "ok") in audit and ("ledger.grant", "ok") in audit
    assert ("ledger.transfer", "refused: overdrawn") in audit
    assert sum(1 for action, _ in audit if action == "signature.refused") >= 5


async def test_a_transfer_replayed_after_the_hub_restarts_is_refused(tmp_path: Path) -> None:
    alice, bob = AccountKey.make("alice"), AccountKey.make("bob")
    body, headers = signed_body(alice, "bob", 1000)

    async def send_once(first: bool) -> int:
        async with served_hub(tmp_path / "hub") as served:
            admin = read_private(tmp_path / "hub" / "admin.token")
            auth = {"Authorization": f"Bearer {admin}"}
            url = served.root + API_PREFIX
            async with httpx.AsyncClient(base_url=url, headers=auth) as client:
                if first:
                    for key in (alice, bob):
                        new = {"name": key.name, "public_key": key.public_key}
                        await client.post("/accounts", json=new)
                    await client.post("/accounts/alice/grant", json={"amount": 5000})
                sent = await client.post("/ledger/transfers", content=body, headers=headers)
                balance = (await client.get("/accounts/bob/balance")).json()["balance"]
                assert balance == 1000
                return sent.status_code

    assert await send_once(first=True) == 200
    assert await send_once(first=False) == 409
