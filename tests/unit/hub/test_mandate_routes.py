"""Mandates over the hub's API on 127.0.0.1: made, listed, paused, resumed and removed only by
their account's signature; a mandate that does not fit its side, a negative price, a replayed or
foreign signature are clear 4xx errors that keep nothing; a job its account signs without a bid
is bid for by the account's buy mandate (its escrow reserved at the mandate's price) and waits
for a seller saying why. Every change and refusal is audited; the ledger verifies."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx

from witengine.clock import wall_time
from witengine.protocol import API_PREFIX
from witengine.security.accounts import AccountKey
from witengine.security.signing import sign_request

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

SCRIPT = """\
Job:Bought(Int:n = 4)
{
    DoubleCollection:done = Grid.ForEach(i in Int.Range(0, n), "Queued") => Compute.Work(1.0);
}
"""


def signed(
    key: AccountKey, method: str, path: str, body: Any = None, *, signer: AccountKey | None = None
) -> tuple[bytes, dict[str, str]]:
    content = json.dumps(body).encode() if body is not None else b""
    headers = sign_request(
        (signer or key).private, key.name, method, API_PREFIX + path, content, wall_time()
    )
    return content, {**headers, "content-type": "application/json"}


async def call(
    live: LiveHub,
    key: AccountKey,
    method: str,
    path: str,
    body: Any = None,
    *,
    signer: AccountKey | None = None,
) -> httpx.Response:
    content, headers = signed(key, method, path, body, signer=signer)
    return await live.client.request(method, path, content=content, headers=headers)


async def kept(live: LiveHub) -> tuple[Any, int]:
    """The mandates and the number of signed requests kept: what a refusal must not change."""
    mandates = (await live.client.get("/mandates")).json()
    signed_count = 0
    for name in ("ann", "bo"):
        signed_count += len((await live.client.get(f"/accounts/{name}/signed")).json())
    return mandates, signed_count


async def test_mandates_are_made_paused_resumed_and_removed_by_their_accounts_key(
    live_hub: LiveHub,
) -> None:
    ann, bo = AccountKey.make("ann"), AccountKey.make("bo")
    for key in (ann, bo):
        made = {"name": key.name, "public_key": key.public_key}
        assert (await live_hub.client.post("/accounts", json=made)).status_code == 201
    sell = {"side": "sell", "activity": "render", "price": 3000, "hours": "22-06", "node": "gpu"}
    made = await call(live_hub, ann, "POST", "/mandates", sell)
    assert made.status_code == 201, made.text
    selling = made.json()
    assert selling == {**selling, **sell, "account": "ann", "state": "active", "daily": 0}
    assert selling["id"].startswith("man_") and selling["spent_today"] is None
    buy = {"side": "buy", "activity": "Compute.Work", "price": 4000, "daily": 500_000}
    buying = (await call(live_hub, bo, "POST", "/mandates", buy)).json()
    assert buying == {**buying, **buy, "account": "bo", "state": "active", "spent_today": 0}
    listed = (await live_hub.client.get("/mandates")).json()
    assert [m["id"] for m in listed] == [selling["id"], buying["id"]]
    only = (await live_hub.client.get("/mandates", params={"account": "bo"})).json()
    assert [m["id"] for m in only] == [buying["id"]]

    paused = await call(live_hub, ann, "POST", f"/mandates/{selling['id']}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    resumed = await call(live_hub, ann, "POST", f"/mandates/{selling['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"

    before = await kept(live_hub)
    foreign = await call(live_hub, bo, "POST", f"/mandates/{selling['id']}/pause")
    assert foreign.status_code == 403 and "only its key may pause it" in foreign.text
    wrong_key = await call(live_hub, ann, "DELETE", f"/mandates/{selling['id']}", signer=bo)
    assert wrong_key.status_code == 401
    unknown = await call(live_hub, ann, "DELETE", "/mandates/man_nothing")
    assert unknown.status_code == 404
    bad_bodies = (
        ({"side": "sell", "price": 3000}, "names the activity"),
        ({"side": "buy", "price": 3000, "hours": "22-06"}, "hours are a sell mandate's"),
        ({"side": "buy", "price": 3000, "node": "gpu"}, "node is a sell mandate's"),
        ({"side": "sell", "activity": "render", "price": 1, "daily": 5}, "daily"),
        ({"side": "sell", "activity": "render", "price": -1}, "price"),
        ({"side": "hold", "activity": "render", "price": 1}, "side"),
    )
    for body, why in bad_bodies:
        refused = await call(live_hub, ann, "POST", "/mandates", body)
        assert refused.status_code == 422 and why in refused.text, (body, refused.text)
    content, headers = signed(ann, "POST", "/mandates", sell)
    assert (await live_hub.client.post("/mandates", content=content, headers=headers)).is_success
    replayed = await live_hub.client.post("/mandates", content=content, headers=headers)
    assert replayed.status_code == 409 and "replayed" in replayed.text
    mandates, signed_count = await kept(live_hub)
    assert len(mandates) == len(before[0]) + 1 and mandates[: len(before[0])] == before[0]
    # Kept: the new mandate's request, and the pause and removal refused after their
    # signatures held; not the wrong key's, the malformed bodies' nor the replay.
    assert signed_count == before[1] + 3

    removed = await call(live_hub, ann, "DELETE", f"/mandates/{selling['id']}")
    assert removed.status_code == 204
    left = (await live_hub.client.get("/mandates", params={"account": "ann"})).json()
    assert selling["id"] not in [m["id"] for m in left]
    audit = [(a["action"], a["outcome"]) for a in (await live_hub.client.get("/audit")).json()]
    for action in ("mandate.add", "mandate.pause", "mandate.resume", "mandate.remove"):
        assert (action, "ok") in audit
    assert ("mandate.pause", "refused: not its account") in audit
    assert ("mandate.remove", "refused: unknown") in audit


async def test_a_job_signed_without_a_bid_is_bought_under_its_accounts_buy_mandate(
    live_hub: LiveHub,
) -> None:
    bo = AccountKey.make("bo")
    made = {"name": "bo", "public_key": bo.public_key}
    assert (await live_hub.client.post("/accounts", json=made)).status_code == 201
    assert (await live_hub.client.post("/accounts/bo/grant", json={"amount": 100_000})).is_success
    buy = {"side": "buy", "activity": "compute", "price": 4000, "daily": 500_000}  # the plugin
    assert (await call(live_hub, bo, "POST", "/mandates", buy)).status_code == 201
    job = {"script": SCRIPT, "filename": "bought.wit", "parameters": {"n": "4"}}
    submitted = await call(live_hub, bo, "POST", "/jobs", job)
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    summary: dict[str, Any] = {}
    for _ in range(500):  # bounded: about 10 s
        summary = (await live_hub.client.get(f"/jobs/{job_id}")).json()
        if summary.get("waiting"):
            break
        await asyncio.sleep(0.02)
    assert summary["waiting"].startswith("waiting for a seller: no node of an account"), summary
    statement = (await live_hub.client.get("/ledger", params={"account": "bo"})).json()
    assert [(line["kind"], line["balance"]) for line in statement] == [
        ("grant", 100_000),
        ("reserve", 100_000 - 4 * 4000),  # 4 items of a unit each, at the mandate's price
    ]
    unsigned = await live_hub.submit(SCRIPT, n="2")  # no signature: no mandate, no escrow
    assert (await live_hub.wait_for(unsigned["id"], {"running", "queued"}))["waiting"] is None
    assert (await live_hub.client.get("/ledger/verify")).json()["ok"]
