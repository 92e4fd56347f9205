"""The exchange end to end, with real processes on 127.0.0.1: a hub, two sellers' nodes (of
accounts `cheap` and `dear`, whose join tokens name them) with different asks, and a buyer
whose signed jobs bid between them. The cheap node gets the work while it can meet the
deadline, the dear one joins when the deadline needs it; balances after the jobs equal the
accepted work times the prices, the hub's exchange fee of 2% of it in exchange:fees and the
rest the sellers'; a cancelled job is refunded; a job whose bid meets no ask
waits and says why; replayed, wrongly signed, malformed and stale requests, a negative price
and an unknown account are clear 4xx errors that write nothing; the ledger verifies. A buyer's
mandate bids for the jobs its account sends without a bid (`wit run --account`), and stops
giving them work once its day's budget is spent, the job waiting saying so. The cheap node runs
with its owner's key (`wit node --account cheap`): each results upload of its trades carries
the cheap account's signed receipt, kept with the trade and checked by `wit ledger verify`;
the dear node holds no key, and its trades say their results came unsigned."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from witengine.security.accounts import AccountKey, key_path
from witengine.security.signing import sign_request
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCRIPT = """\
Job:Paid(Int:n = 10, Double:units = 1.0)
{
    DoubleCollection:done = Grid.ForEach(i in Int.Range(0, n), "Queued") => Compute.Work(units);
}
"""
CHEAP, DEAR, BID = 1000, 3000, 2000  # milli-credits a work unit
FEE = 2  # percent of each settlement to the exchange's fee account (wit hub --exchange-fee)
GRANT = 1_000_000


class Market:
    """The farm, its accounts' keys, and signed requests to it."""

    def __init__(self, farm: ProcessFarm) -> None:
        self.farm = farm
        self.keys = {name: AccountKey.make(name) for name in ("cheap", "dear", "buyer")}

    def signed(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        account: str,
        key: AccountKey | None = None,
        at: float | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        content = json.dumps(body).encode() if body is not None else b""
        signer = (key or self.keys[account]).private
        headers = sign_request(
            signer, account, method, f"/api/v1{path}", content, at or time.time()
        )
        return content, {**headers, "content-type": "application/json"}

    def send(self, method: str, path: str, content: bytes, headers: dict[str, str]) -> Any:
        return self.farm.api(method, path, content=content, headers=headers, timeout=30)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.send(method, path, *self.signed(method, path, body, **kw))

    def submit(self, bid: int, n: int, units: float, deadline: float | None = None) -> str:
        body = {
            "script": SCRIPT,
            "filename": "paid.wit",
            "parameters": {"n": str(n), "units": str(units)},
            "bid": {"price": bid, "deadline": deadline},
        }
        answer = self.call("POST", "/jobs", body, account="buyer")
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def balance(self, name: str) -> int:
        return int(self.farm.api("GET", f"/accounts/{name}/balance").json()["balance"])

    def trades(self, **query: str) -> list[dict[str, Any]]:
        answer = self.farm.api("GET", "/trades", params=query)
        assert answer.status_code == 200, answer.text
        return list(answer.json())

    def counts(self) -> tuple[int, int, int]:
        """Asks, ledger transactions, signed requests kept: what a refusal must not change."""
        asks = len(self.farm.api("GET", "/asks").json())
        ledger = len(self.farm.api("GET", "/ledger").json())
        signed = sum(
            len(self.farm.api("GET", f"/accounts/{name}/signed").json()) for name in self.keys
        )
        return asks, ledger, signed


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    farm = ProcessFarm(tmp_path_factory.mktemp("exchange"), free_port())
    try:
        farm.hub_args = (*farm.hub_args, "--exchange-fee", f"{FEE}%")
        farm.start_hub()
        market = Market(farm)
        for name, key in market.keys.items():
            made = farm.api("POST", "/accounts", json={"name": name, "public_key": key.public_key})
            assert made.status_code == 201 and made.json()["state"] == "active", made.text
        granted = farm.api("POST", "/accounts/buyer/grant", json={"amount": GRANT})
        assert granted.status_code == 200, granted.text
        for seller, price in (("cheap", CHEAP), ("dear", DEAR)):
            ask = market.call(
                "POST", "/asks", {"activity": "Compute.Work", "price": price}, account=seller
            )
            assert ask.status_code == 201, ask.text
            token = farm.api("POST", "/tokens", json={"role": "node", "owner": seller})
            assert token.status_code == 201, token.text
            # The cheap seller's node holds its owner's key and signs its results' receipts;
            # the dear one's does not: its trades say their results came unsigned.
            signs = ()
            if seller == "cheap":
                market.keys[seller].save(key_path(farm.root / "config", seller))
                signs = ("--account", seller)
            farm.start_node(
                f"{seller}-node",
                "--token",
                token.json()["token"],
                "--slots",
                "1",
                *signs,
                env={"WIT_WORK_PACE": "40"},  # 1 unit = 25 ms at speed 1
            )
        wait_until(lambda: {"cheap-node", "dear-node"} <= set(farm.online()), 60, "the nodes")
        yield market
    finally:
        farm.stop()


def wit(farm: ProcessFarm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        env={**farm.env, "WIT_HUB": farm.url, "COLUMNS": "200"},
        cwd=farm.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def paid_by_seller(trades: list[dict[str, Any]]) -> dict[str, int]:
    paid: dict[str, int] = {}
    for trade in trades:
        paid[trade["seller"]] = paid.get(trade["seller"], 0) + trade["paid"]
    return paid


def test_nodes_show_the_account_that_owns_them(market: Market) -> None:
    nodes = {n["name"]: n for n in market.farm.api("GET", "/nodes").json()}
    assert nodes["cheap-node"]["owner"] == "cheap"
    assert nodes["dear-node"]["owner"] == "dear"


def test_the_cheap_node_gets_the_work_and_balances_equal_work_times_price(
    market: Market,
) -> None:
    before, fees = market.balance("buyer"), market.balance("exchange:fees")
    job = market.farm.wait_done(market.submit(BID, 10, 1.0), 90)
    assert job["status"] == "completed", job["error"]
    trades = market.trades(job=job["id"])
    assert trades and {t["seller"] for t in trades} == {"cheap"}
    assert {t["price"] for t in trades} == {CHEAP}
    accepted = sum(t["accepted"] for t in trades)
    assert accepted == 10
    # 10 items of 1 unit at the cheap ask, split between the seller and the exchange's fee
    assert market.balance("cheap") == 10 * CHEAP * (100 - FEE) // 100
    assert market.balance("exchange:fees") == fees + 10 * CHEAP * FEE // 100
    assert market.balance("buyer") == before - 10 * CHEAP  # the rest of the escrow refunded
    assert market.balance(f"escrow:{job['id']}") == 0
    paid = next(t for t in trades if t["accepted"])
    detail = market.farm.api("GET", f"/trades/{paid['id']}").json()
    phases = [p["phase"] for p in detail["phases"]]
    for phase in ("matched", "assigned", "input transferred", "started", "results uploaded",
                  "verified", "accepted", "settled", "closed"):  # fmt: skip
        assert phase in phases, (phase, phases)
    assert phases.index("matched") < phases.index("assigned") < phases.index("settled")
    page = httpx.get(
        f"{market.farm.url}/trades/{paid['id']}",
        headers={"Authorization": f"Bearer {market.farm.token}"},
        timeout=10,
    )
    assert page.status_code == 200 and "Timeline" in page.text, page.text[:300]
    assert "matched" in page.text and "settled" in page.text and "POST /api/v1/asks" in page.text
    job_page = httpx.get(
        f"{market.farm.url}/jobs/{job['id']}",
        headers={"Authorization": f"Bearer {market.farm.token}"},
        timeout=10,
    )
    assert f'href="/trades/{paid["id"]}"' in job_page.text
    signed = {(s["account"], s["method"], s["path"]) for s in detail["signed"]}
    assert ("buyer", "POST", "/api/v1/jobs") in signed
    assert ("cheap", "POST", "/api/v1/asks") in signed
    # Each results upload of the trade carries its seller's receipt, signed by the cheap
    # account's key on its node: kept with the trade, shown on its page, checked again by
    # `wit ledger verify`.
    receipts = [s for s in detail["signed"] if s["method"] == "RECEIPT"]
    uploads = [p["detail"] for p in detail["phases"] if p["phase"] == "results uploaded"]
    assert receipts and len(receipts) == len(uploads), (receipts, uploads)
    assert all(", receipt signed by cheap" in d for d in uploads), uploads
    for receipt in receipts:
        assert receipt["account"] == "cheap"
        assert receipt["path"] == f"/api/v1/trades/{paid['id']}"
        assert json.loads(receipt["body"])["trade"] == paid["id"]
    delivered = sum(len(json.loads(r["body"])["items"]) for r in receipts)
    assert delivered >= paid["accepted"]
    assert f"cheap: RECEIPT /api/v1/trades/{paid['id']}" in page.text
    verified = wit(market.farm, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_both_asks_within_the_bid_the_cheap_node_alone_while_it_meets_the_deadline(
    market: Market,
) -> None:
    job = market.farm.wait_done(market.submit(DEAR, 10, 1.0, deadline=time.time() + 3600), 90)
    assert job["status"] == "completed", job["error"]
    trades = market.trades(job=job["id"])
    assert trades and {t["seller"] for t in trades} == {"cheap"}


def test_the_dear_node_joins_when_the_deadline_needs_it(market: Market) -> None:
    cheap_before, dear_before = market.balance("cheap"), market.balance("dear")
    buyer_before, fees = market.balance("buyer"), market.balance("exchange:fees")
    job = market.farm.wait_done(market.submit(DEAR, 30, 1.0, deadline=time.time() + 0.2), 90)
    assert job["status"] == "completed", job["error"]
    trades = market.trades(job=job["id"])
    assert {t["seller"] for t in trades} == {"cheap", "dear"}
    paid = paid_by_seller(trades)
    for trade in trades:
        assert trade["paid"] == trade["accepted"] * trade["price"]
    assert sum(t["accepted"] for t in trades) == 30
    assert market.balance("cheap") == cheap_before + paid["cheap"] * (100 - FEE) // 100
    assert market.balance("dear") == dear_before + paid["dear"] * (100 - FEE) // 100
    assert market.balance("exchange:fees") == fees + (paid["cheap"] + paid["dear"]) * FEE // 100
    assert market.balance("buyer") == buyer_before - paid["cheap"] - paid["dear"]
    # The dear node holds no key of its owner: it sells, its trades saying so.
    dear = next(t for t in trades if t["seller"] == "dear" and t["accepted"])
    detail = market.farm.api("GET", f"/trades/{dear['id']}").json()
    uploads = [p["detail"] for p in detail["phases"] if p["phase"] == "results uploaded"]
    assert uploads and all("unsigned: node dear-node holds no key of account dear" in d
                           for d in uploads), uploads  # fmt: skip
    assert not [s for s in detail["signed"] if s["method"] == "RECEIPT"]


def test_a_cancelled_job_is_refunded(market: Market) -> None:
    before = market.balance("buyer")
    job_id = market.submit(BID, 200, 1.0)
    wait_until(lambda: any(t["accepted"] for t in market.trades(job=job_id)), 60, "a payment")
    cancelled = market.farm.api("POST", f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    job = market.farm.wait_done(job_id, 60)
    assert job["status"] == "cancelled"
    wait_until(lambda: market.balance(f"escrow:{job_id}") == 0, 30, "the refund")
    trades = market.trades(job=job_id)
    spent = sum(t["paid"] for t in trades)
    assert 0 < spent < 200 * CHEAP
    assert market.balance("buyer") == before - spent


def test_a_bid_below_every_ask_waits_and_says_why(market: Market) -> None:
    job_id = market.submit(500, 2, 1.0)

    def waiting() -> str | None:
        found: str | None = market.farm.job(job_id).get("waiting")
        return found

    reason = wait_until(waiting, 30, "the job to say why it waits")
    assert "below every ask" in reason and "1000" in reason
    assert market.trades(job=job_id) == []
    assert market.farm.job(job_id)["status"] == "running"
    market.farm.api("POST", f"/jobs/{job_id}/cancel")
    assert market.farm.wait_done(job_id, 30)["status"] == "cancelled"


def test_a_job_its_account_cannot_pay_for_fails_saying_so(market: Market) -> None:
    before = market.balance("buyer")
    job = market.farm.wait_done(market.submit(BID, 5000, 1.0), 60)
    assert job["status"] == "failed"
    assert "account 'buyer' holds" in job["error"] and "at its bid of 2.000" in job["error"]
    assert market.balance("buyer") == before


def test_a_buy_mandate_buys_jobs_sent_without_a_bid_within_its_days_budget(
    market: Market,
) -> None:
    farm = market.farm
    saved = key_path(farm.root / "config", "buyer")
    if not saved.exists():
        market.keys["buyer"].save(saved)
    (farm.root / "paid.wit").write_text(SCRIPT)
    rule = {"side": "buy", "activity": "Compute.Work", "price": BID}
    made = market.call("POST", "/mandates", rule, account="buyer")
    assert made.status_code == 201, made.text
    unlimited = made.json()["id"]
    ran = wit(farm, "run", "paid.wit", "n=3", "--account", "buyer", "--json")  # no --bid
    assert ran.returncode == 0, ran.stderr
    job_id = next(j["id"] for j in farm.api("GET", "/jobs").json() if j["name"] == "Paid")
    trades = market.trades(job=job_id)
    assert trades and {(t["seller"], t["price"], t["bid"], t["mandate"]) for t in trades} == {
        ("cheap", CHEAP, BID, unlimited)
    }
    assert sum(t["accepted"] for t in trades) == 3
    gone = market.call("DELETE", f"/mandates/{unlimited}", account="buyer")
    assert gone.status_code == 204, gone.text

    capped = market.call("POST", "/mandates", {**rule, "daily": 3 * CHEAP}, account="buyer")
    assert capped.status_code == 201, capped.text
    before = market.balance("buyer")
    body = {"script": SCRIPT, "filename": "paid.wit", "parameters": {"n": "40"}}
    submitted = market.call("POST", "/jobs", body, account="buyer")
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]

    def waiting() -> str | None:
        found: str | None = farm.job(job_id).get("waiting")
        return found

    reason = wait_until(waiting, 60, "the job to wait for its mandate's next day")
    assert f"buy mandate {capped.json()['id']} spent its 3.000 credits" in reason, reason
    trades = market.trades(job=job_id)
    spent = sum(t["paid"] for t in trades)
    assert 3 * CHEAP <= spent < 40 * CHEAP and farm.job(job_id)["status"] == "running"
    farm.api("POST", f"/jobs/{job_id}/cancel")
    assert farm.wait_done(job_id, 30)["status"] == "cancelled"
    wait_until(lambda: market.balance(f"escrow:{job_id}") == 0, 30, "the refund")
    assert market.balance("buyer") == before - sum(t["paid"] for t in market.trades(job=job_id))
    assert market.call("DELETE", f"/mandates/{capped.json()['id']}", account="buyer").is_success


def test_refused_requests_are_clear_and_write_nothing(market: Market) -> None:
    before = market.counts()
    ask = {"activity": "Compute.Work", "price": 10}
    content, headers = market.signed("POST", "/asks", ask, account="cheap")
    assert market.send("POST", "/asks", content, headers).status_code == 201
    before = market.counts()
    replayed = market.send("POST", "/asks", content, headers)
    assert replayed.status_code == 409 and "replayed" in replayed.text
    wrong = market.call("POST", "/asks", ask, account="cheap", key=market.keys["dear"])
    assert wrong.status_code == 401 and "not account 'cheap'" in wrong.text
    stale = market.call("POST", "/asks", ask, account="cheap", at=time.time() - 3600)
    assert stale.status_code == 401 and "stale" in stale.text
    malformed = dict(market.signed("POST", "/asks", ask, account="cheap")[1])
    malformed["X-Wit-Signature"] = "not base64!"
    bad = market.send("POST", "/asks", json.dumps(ask).encode(), malformed)
    assert bad.status_code == 400 and "X-Wit-Signature" in bad.text
    unknown = market.call("POST", "/asks", ask, account="nobody", key=market.keys["cheap"])
    assert unknown.status_code == 401 and "no account named 'nobody'" in unknown.text
    negative = market.call(
        "POST", "/asks", {"activity": "Compute.Work", "price": -1}, account="cheap"
    )
    assert negative.status_code == 422 and "price" in negative.text
    assert market.counts() == before
    verdict = market.farm.api("GET", "/ledger/verify").json()
    assert verdict["ok"], verdict


def test_the_commands_bid_ask_and_show_trades(market: Market) -> None:
    farm = market.farm
    for name in ("buyer", "dear"):
        market.keys[name].save(key_path(farm.root / "config", name))
    (farm.root / "paid.wit").write_text(SCRIPT)
    added = wit(farm, "ask", "add", "Compute", "2.5", "--account", "dear", "--hours", "0-0")
    assert added.returncode == 0, added.stderr
    listed = json.loads(wit(farm, "ask", "list", "--account", "dear", "--json").stdout)
    assert {(a["activity"], a["price"], a["hours"]) for a in listed} >= {("Compute", 2500, "0-0")}
    bad = wit(farm, "ask", "add", "Compute", "1.2345", "--account", "dear")
    assert bad.returncode == 2 and "price '1.2345'" in bad.stderr
    ran = wit(farm, "run", "paid.wit", "n=3", "--bid", "2", "--account", "buyer", "--json")
    assert ran.returncode == 0, ran.stderr
    jobs = farm.api("GET", "/jobs").json()
    job_id = next(j["id"] for j in jobs if j["name"] == "Paid" and j["status"] == "completed")
    shown = json.loads(wit(farm, "trades", "--job", job_id, "--json").stdout)
    assert shown and {t["seller"] for t in shown} == {"cheap"}
    timeline = wit(farm, "trades", "--trade", shown[0]["id"])
    assert timeline.returncode == 0 and "matched" in timeline.stdout, timeline.stderr
    unpaired = wit(farm, "run", "paid.wit", "--bid", "2")
    assert unpaired.returncode != 0 and "--bid needs --account" in unpaired.stderr
