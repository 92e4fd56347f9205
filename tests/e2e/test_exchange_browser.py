"""The exchange's pages in a real browser (Playwright, the system's Chromium) against a real hub
and a real `wit node --account ann`: the dashboard's Accounts page lists ann and bob with their
key fingerprints; an admin grants ann credits from her account page's form and the statement
shows it live, with its running balance, its hash and the ledger's check. On the node's machine
ann opens her console: her balance and statement, read with requests the node signed with her
key, a payment to bob from its form, which the hub takes as signed by ann, and a grant made
elsewhere shown on the open console; then an ask and mandates made, paused and withdrawn from the
console's forms, and the trades ann's machine makes for bob's job shown there. Screenshots
(account-page.png, owner-console.png, owner-console-market.png) go to test-output/screenshots/
(or $WIT_SCREENSHOTS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.security.accounts import AccountKey, key_path
from witengine.security.node_keys import key_fingerprint
from witengine.security.signing import sign_request
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("exchange"), free_port())
    farm.console_port = free_port()  # type: ignore[attr-defined]
    farm.start_hub()
    try:
        for name in ("ann", "bob"):
            key = AccountKey.make(name)
            # Where `wit account create` keeps it: the config folder every process here shares.
            key.save(key_path(farm.root / "config", name))
            body = {"name": name, "public_key": key.public_key}
            assert farm.api("POST", "/accounts", json=body).status_code == 201
        port = str(farm.console_port)  # type: ignore[attr-defined]
        farm.start_node("desk", "--account", "ann", "--status-port", port, "--no-bench")
        wait_until(lambda: farm.online() == ["desk"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def test_an_admin_grants_credits_on_the_accounts_page_and_sees_the_statement(
    page: Any, farm: ProcessFarm
) -> None:
    ann = farm.api("GET", "/accounts").json()[0]
    page.goto("/")
    page.get_by_role("link", name="Accounts").click()
    row = page.locator('tr[data-account="ann"]')
    expect(row.locator("td.fingerprint")).to_have_text(key_fingerprint(ann["public_key"]))
    expect(row.locator("td.balance")).to_have_text("0.000")
    row.get_by_role("link", name="ann").click()
    expect(page.locator("h1")).to_have_text("Account ann")
    expect(page.locator("#verdict")).to_contain_text("chain OK")
    expect(page.locator("#live")).to_have_text("live")
    page.get_by_label("Credits", exact=True).fill("120.5")
    page.get_by_label("What for", exact=True).fill("welcome to the farm")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#grant-status")).to_have_text("Granted: transaction 1.")
    # The statement comes over the page's stream, without a reload.
    first = page.locator('#account-statement tr[data-seq="1"]')
    expect(first.locator("td.running")).to_have_text("120.500")
    expect(first).to_contain_text("welcome to the farm")
    expect(page.locator("#balance")).to_have_text("120.500 credits")
    tx = farm.api("GET", "/ledger").json()[0]
    assert first.locator("td.hash code").get_attribute("title").startswith(tx["hash"])
    page.reload()
    expect(page.locator("#verdict")).to_contain_text("1 transaction(s) chained")
    assert page.evaluate(CONTRAST) == []
    shot(page, "account-page")


def test_the_owner_pays_from_the_console_on_the_nodes_machine(
    browser: Any, farm: ProcessFarm
) -> None:
    if not farm.api("GET", "/ledger").json():  # when run alone
        farm.api("POST", "/accounts/ann/grant", json={"amount": 120_500, "memo": "welcome"})
    own = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    own.set_default_timeout(30_000)
    errors: list[str] = []
    own.on("pageerror", lambda error: errors.append(str(error)))
    own.goto(f"http://127.0.0.1:{farm.console_port}/")  # type: ignore[attr-defined]
    own.get_by_role("link", name="Account").click()
    expect(own.locator("h1")).to_have_text("Account ann")
    expect(own.locator("#balance")).to_have_text("120.500 credits")
    expect(own.locator("#earnings tbody tr")).to_have_count(1)
    own.get_by_label("To account").fill("bob")
    own.get_by_label("Credits", exact=True).fill("20.25")
    own.get_by_label("What for", exact=True).fill("the render of shot 10")
    own.get_by_role("button", name="Pay").click()
    expect(own.locator("#said")).to_have_text("Paid 20.250 credits to bob (transaction 2).")
    expect(own.locator("#balance")).to_have_text("100.250 credits")
    expect(own.locator('#statement tr[data-seq="2"] td.amount')).to_have_text("-20.250")
    expect(own.locator("#live-state")).to_have_text("live")
    # A grant made elsewhere shows on the open console, without a reload: at its next look
    # (every 5 s), so the wait is longer than expect's 5 s default.
    farm.api("POST", "/accounts/ann/grant", json={"amount": 4_750, "memo": "bonus"})
    expect(own.locator("#balance")).to_have_text("105.000 credits", timeout=30_000)
    expect(own.locator('#statement tr[data-seq="3"]')).to_contain_text("bonus")
    assert own.evaluate(CONTRAST) == []
    shot(own, "owner-console")
    assert errors == []
    assert farm.api("GET", "/accounts/bob/balance").json()["balance"] == 20_250
    (signed,) = farm.api("GET", "/accounts/ann/signed").json()
    assert signed["path"] == "/api/v1/ledger/transfers" and "shot 10" in signed["body"]
    assert farm.api("GET", "/accounts/ann/balance").json()["balance"] == 105_000
    assert farm.api("GET", "/ledger/verify").json()["ok"] is True


SCRIPT = """\
Job:Bought(Int:n = 6)
{
    DoubleCollection:done = Grid.ForEach(i in Int.Range(0, n), "Queued") => Compute.Work(0.01);
}
"""


def test_the_owner_sells_from_the_console_and_sees_the_trades_of_the_machine(
    browser: Any, farm: ProcessFarm
) -> None:
    desk = next(n for n in farm.api("GET", "/nodes").json() if n["name"] == "desk")
    placed = farm.api("POST", f"/nodes/{desk['id']}/place", json={"owner": "ann"})
    assert placed.status_code == 200, placed.text
    own = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    own.set_default_timeout(30_000)
    errors: list[str] = []
    own.on("pageerror", lambda error: errors.append(str(error)))
    own.goto(f"http://127.0.0.1:{farm.console_port}/console")  # type: ignore[attr-defined]
    expect(own.locator("#no-trades")).to_be_visible()
    # An ask and two mandates, each signed in the node's process with ann's key.
    own.get_by_label("Activity to sell").fill("Compute.Work")
    own.get_by_label("Ask, credits a unit").fill("1.5")
    own.get_by_role("button", name="Add ask").click()
    expect(own.locator("#said")).to_contain_text("made: Compute.Work at 1.500 a unit.")
    expect(own.locator("#asks tbody tr")).to_have_count(1)
    own.get_by_label("Side").select_option("sell")
    own.get_by_label("Mandate activity").fill("render")
    own.get_by_label("Mandate price, credits a unit").fill("3")
    own.get_by_label("Sell hours").fill("22-06")
    own.get_by_label("Sell on node").fill("desk")
    own.get_by_role("button", name="Add mandate").click()
    expect(own.locator("#said")).to_contain_text("(sell)")
    own.get_by_label("Side").select_option("buy")
    own.get_by_label("Mandate price, credits a unit").fill("4")
    own.get_by_label("Buy at most, credits a day").fill("500")
    own.get_by_role("button", name="Add mandate").click()
    expect(own.locator("#said")).to_contain_text("(buy)")
    rows = own.locator("#mandates tbody tr")
    expect(rows).to_have_count(2)
    sell_id = rows.nth(0).get_attribute("data-mandate")
    own.get_by_role("button", name=f"Pause mandate {sell_id}").click()
    expect(own.locator(f'tr[data-mandate="{sell_id}"] td.state')).to_have_text("paused")
    buy_id = rows.nth(1).get_attribute("data-mandate")
    own.get_by_role("button", name=f"Withdraw mandate {buy_id}").click()
    expect(own.locator("#mandates tbody tr")).to_have_count(1)

    # bob buys a job at 2 a unit: desk, ann's machine, sells it at her ask.
    bob = AccountKey.load("bob", key_path(farm.root / "config", "bob"))
    granted = farm.api("POST", "/accounts/bob/grant", json={"amount": 100_000})
    assert granted.status_code == 200, granted.text
    job = {"script": SCRIPT, "filename": "bought.wit", "bid": {"price": 2000}}
    content = json.dumps(job).encode()
    headers = sign_request(bob.private, "bob", "POST", "/api/v1/jobs", content, time.time())
    headers["content-type"] = "application/json"
    submitted = farm.api("POST", "/jobs", content=content, headers=headers)
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    wait_until(
        lambda: farm.api("GET", f"/jobs/{job_id}").json()["status"] == "completed", 60, "the job"
    )
    # The open console shows the trades at its next look (every 5 s).
    trades = own.locator("#trades tbody tr")
    expect(trades.first).to_be_visible(timeout=30_000)
    expect(own.locator('#trades tr[data-state="settled"]').first).to_be_visible(timeout=30_000)
    expect(trades.first.locator("td").nth(2)).to_have_text("bob")
    sold = farm.api("GET", "/trades", params={"job": job_id}).json()
    assert sold and {(t["seller"], t["node_name"], t["price"]) for t in sold} == {
        ("ann", "desk", 1500)
    }
    assert own.evaluate(CONTRAST) == []
    shot(own, "owner-console-market")
    assert errors == []
    assert farm.api("GET", "/ledger/verify").json()["ok"] is True
