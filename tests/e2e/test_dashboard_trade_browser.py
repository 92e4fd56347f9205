"""The dashboard's trade page in a real browser (Playwright, the system's Chromium) against a
real hub and a seller's node on 127.0.0.1: a job bought on the exchange lists its trades on its
page; a trade's page shows its parties, price, what was accepted and paid, its timeline from
matched to closed, and the signed requests of its bid and ask; readable contrast.
Screenshot: trade.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot
from test_exchange import BID, CHEAP, Market

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("trade"), free_port())
    farm.start_hub()
    try:
        market = Market(farm)
        for name in ("cheap", "buyer"):
            key = market.keys[name]
            made = farm.api("POST", "/accounts", json={"name": name, "public_key": key.public_key})
            assert made.status_code == 201, made.text
        assert farm.api("POST", "/accounts/buyer/grant", json={"amount": 100_000}).is_success
        ask = {"activity": "Compute.Work", "price": CHEAP}
        assert market.call("POST", "/asks", ask, account="cheap").status_code == 201
        token = farm.api("POST", "/tokens", json={"role": "node", "owner": "cheap"}).json()
        farm.start_node("cheap-node", "--token", token["token"], "--slots", "1")
        wait_until(lambda: farm.online() == ["cheap-node"], 60, "the node to connect")
        job = farm.wait_done(market.submit(BID, 6, 1.0), 90)
        assert job["status"] == "completed", job["error"]
        farm.acknowledged.append(job["id"])
        yield farm
    finally:
        farm.stop()


def test_a_trade_page_shows_its_timeline_and_signatures(page: Any, farm: ProcessFarm) -> None:
    job_id = farm.acknowledged[-1]
    page.goto(f"/jobs/{job_id}")
    trades = page.locator("#job-trades li").filter(has_not_text=", 0 accepted").locator("a")
    expect(trades.first).to_be_visible()
    trades.first.click()
    page.wait_for_url(re.compile(r"/trades/batch_"))
    expect(page.locator("h1")).to_contain_text("Trade batch_")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("cheap (node cheap-node)")
    expect(facts).to_contain_text("1.000 credits a work unit")
    timeline = page.locator("#trade-timeline li")
    expect(timeline.first).to_contain_text("matched")
    expect(page.locator("#trade-timeline")).to_contain_text("settled")
    expect(page.locator("#trade-timeline")).to_contain_text("closed")
    expect(page.locator("details summary")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("buyer: POST /api/v1/jobs")
    expect(page.locator("main")).to_contain_text("cheap: POST /api/v1/asks")
    shot(page, "trade")
    assert page.evaluate(CONTRAST) == []
    assert page.locator("h1").count() == 1
