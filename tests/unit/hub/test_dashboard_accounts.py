"""The dashboard's Accounts and account pages over real HTTP: every account with its state,
key fingerprint and balance; an account's statement with the running balance and each
transaction's hash; the ledger's check (chain OK, or the first bad transaction); open to
viewers, a grant through the API from the page's form, and live: the stream sends the statement
again after a grant."""

from __future__ import annotations

import asyncio
import json

import httpx
from httpx_sse import aconnect_sse
from tests.unit.hub.conftest import LiveHub

from witengine.security.accounts import AccountKey
from witengine.security.node_keys import key_fingerprint
from witengine.security.tokens import Role


def site(live: LiveHub, token: str | None = None) -> httpx.AsyncClient:
    root = live.url.removesuffix("/api/v1")
    return httpx.AsyncClient(base_url=root, headers=live.headers(token or live.token), timeout=10)


async def accounts(live: LiveHub) -> tuple[AccountKey, AccountKey]:
    alice, bob = AccountKey.make("alice"), AccountKey.make("bob")
    for key in (alice, bob):
        body = {"name": key.name, "public_key": key.public_key}
        assert (await live.client.post("/accounts", json=body)).status_code == 201
    grant = {"amount": 12_500, "memo": "<b>welcome</b>"}
    assert (await live.client.post("/accounts/alice/grant", json=grant)).status_code == 200
    return alice, bob


async def test_the_accounts_page_lists_state_fingerprint_and_balance(live_hub: LiveHub) -> None:
    alice, _ = await accounts(live_hub)
    viewer = live_hub.issue(Role.VIEWER)
    carol = AccountKey.make("carol")  # registered with a viewer's token: pending
    body = {"name": "carol", "public_key": carol.public_key}
    await live_hub.client.post("/accounts", json=body, headers=live_hub.headers(viewer))
    async with site(live_hub, viewer) as client:
        html = (await client.get("/accounts")).text
        approved = await client.post(
            "/api/v1/accounts/carol/approve", headers={"X-Wit-Dashboard": "1"}
        )
    assert approved.status_code == 403  # the button is an admin's
    async with site(live_hub) as client:
        approved = await client.post(
            "/api/v1/accounts/carol/approve", headers={"X-Wit-Dashboard": "1"}
        )
        after = (await client.get("/accounts")).text
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert 'id="approve-carol" data-post="/api/v1/accounts/carol/approve"' in html
    assert key_fingerprint(carol.public_key) in html.split('id="approve-carol"')[1].split(">")[0]
    assert 'id="approve-carol"' not in after and 'id="approve-alice"' not in html
    assert 'href="/accounts" aria-current="page"' in html
    assert 'data-account="alice"' in html and 'data-account="bob"' in html
    assert key_fingerprint(alice.public_key) in html
    assert '<td class="num balance">12.500</td>' in html
    assert '<td class="num balance">0.000</td>' in html


async def test_an_account_page_shows_its_statement_with_running_balance_and_hashes(
    live_hub: LiveHub,
) -> None:
    await accounts(live_hub)
    await live_hub.client.post("/accounts/alice/grant", json={"amount": 500})
    lines = (await live_hub.client.get("/ledger", params={"account": "alice"})).json()
    async with site(live_hub) as client:
        html = (await client.get("/accounts/alice")).text
        missing = await client.get("/accounts/nobody")
    assert "<h1>Account alice</h1>" in html and "13.000 credits" in html
    assert '<td class="num running">12.500</td>' in html
    assert '<td class="num running">13.000</td>' in html
    assert '<td class="num amount in">+0.500</td>' in html
    assert all(f'<code title="{line["hash"]} (after {line["previous"]})' in html for line in lines)
    assert html.index('id="tx-2"') < html.index('id="tx-1"')  # newest first
    assert "&lt;b&gt;welcome&lt;/b&gt;" in html and "<b>welcome</b>" not in html
    assert "chain OK" in html and "2 transaction(s) chained" in html
    assert 'id="grant-form" data-account="alice"' in html
    assert missing.status_code == 404 and "No such account" in missing.text


async def test_an_account_page_names_the_first_bad_transaction_of_a_broken_chain(
    live_hub: LiveHub,
) -> None:
    await accounts(live_hub)
    await live_hub.client.post("/accounts/bob/grant", json={"amount": 1000})
    db = live_hub.hub.store.db  # type: ignore[attr-defined]  # the hub's SQLite file
    db.execute("DROP TRIGGER ledger_no_update")  # what someone editing the file would do
    db.execute("UPDATE ledger SET memo = 'edited' WHERE seq = 2")
    async with site(live_hub) as client:
        html = (await client.get("/accounts/bob")).text
    assert "broken" in html and 'href="#tx-2"' in html and "chain OK" not in html
    assert "transaction 2: its hash does not match its contents" in html


async def test_the_account_pages_stream_sends_the_statement_again_after_a_grant(
    live_hub: LiveHub,
) -> None:
    await accounts(live_hub)
    async with (
        site(live_hub) as client,
        asyncio.timeout(20),
        aconnect_sse(client, "GET", "/stream", params={"view": "account", "key": "bob"}) as source,
    ):
        seen: list[str] = []
        async for event in source.aiter_sse():
            if event.event != "swap":
                continue
            swapped = json.loads(event.data)
            seen.append(swapped["id"])
            if swapped["id"] == "account-statement" and "No transactions yet" in swapped["html"]:
                # The form's request, as the page's script sends it.
                granted = await client.post(
                    "/api/v1/accounts/bob/grant",
                    json={"amount": 2000, "memo": ""},
                    headers={"X-Wit-Dashboard": "1"},
                )
                assert granted.status_code == 200, granted.text
            elif swapped["id"] == "account-statement":
                assert '<td class="num running">2.000</td>' in swapped["html"]
                break
        assert seen[:2] == ["account-summary", "account-statement"]
