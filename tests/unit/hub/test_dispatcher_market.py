"""Paid maps in the dispatcher: only nodes whose owner account asks at or below the job's bid
are given its work, the cheapest alone without a deadline; a bid below every ask waits and
says why, and gets work once an ask meets it; each accepted result is paid to its seller at
the ask, the rest of the escrow refunded; a job without a bid runs as before on every node.
An in-memory store, fake node links and a FakeClock."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.hub.test_dispatcher_pools import join, run, start
from tests.unit.hub.test_dispatcher_requirements import ACTIVITY, Link, finish

from witengine.hub.dispatch import Dispatcher, Placement
from witengine.hub.exchange.market import Market
from witengine.hub.store.base import AccountRecord
from witengine.hub.store.ledger import escrow_account
from witengine.hub.store.memory import MemoryStore
from witengine.runtime.executor import MapRequest
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(10)


def make() -> tuple[Dispatcher, Market, MemoryStore]:
    store = MemoryStore()
    for name in ("cheap", "dear", "buyer"):
        store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
    market = Market(store, lambda: 1000.0)
    market.ledger.grant("buyer", 100_000, actor="admin")
    market.add_ask("cheap", ACTIVITY, 1000)
    market.add_ask("dear", ACTIVITY, 3000)
    dispatcher = Dispatcher(
        store, FakeClock(1000.0), lease_seconds=10.0, no_node_seconds=5.0, market=market
    )
    return dispatcher, market, store


def sellers(link: Link) -> int:
    return sum(len(assign.tasks) for assign in link.assigns())


async def test_only_the_cheap_node_runs_a_job_bidding_between_the_asks() -> None:
    dispatcher, market, store = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    dear = join(dispatcher, "dear-node", Placement("default", True, "dear"))
    market.place_bid("job_1", "buyer", 2000, None, "n1")
    task = await start(dispatcher, 8)
    results = await run(dispatcher, task, cheap, dear)
    assert len(results) == 8
    assert dear[1].assigns() == []
    assert store.balance("cheap") == 8 * 1000  # one unit an item, at the cheap ask
    assert store.balance("dear") == 0
    trades = store.list_trades(job_id="job_1")
    assert trades and {t.seller for t in trades} == {"cheap"}
    dispatcher.job_ended("job_1")
    assert store.balance(escrow_account("job_1")) == 0
    assert store.balance("buyer") == 100_000 - 8 * 1000
    assert market.ledger.verify().ok


async def test_a_bid_below_every_ask_waits_saying_why_until_an_ask_meets_it() -> None:
    dispatcher, market, store = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    market.place_bid("job_1", "buyer", 500, None, "n1")
    task = await start(dispatcher, 4)
    for _ in range(5):
        dispatcher.dispatch()
        dispatcher.expire()
        await asyncio.sleep(0)
    assert cheap[1].assigns() == [] and not task.done()
    reason = dispatcher.view.waiting("job_1")
    assert reason is not None and "below every ask" in reason and "1000" in reason
    market.add_ask("cheap", ACTIVITY.rpartition(".")[0], 400)  # the plugin's, cheaper
    dispatcher.expire()  # matched again each tick
    assert len(await run(dispatcher, task, cheap)) == 4
    assert store.balance("cheap") == 4 * 400
    assert dispatcher.view.waiting("job_1") is None


async def test_a_job_without_a_bid_runs_on_every_node_and_moves_no_credit() -> None:
    dispatcher, _, store = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    dear = join(dispatcher, "dear-node", Placement("default", True, "dear"))
    task = await start(dispatcher, 40)
    assert len(await run(dispatcher, task, cheap, dear)) == 40
    assert sellers(cheap[1]) and sellers(dear[1])
    assert store.balance("cheap") == store.balance("dear") == 0
    assert store.list_trades() == []


async def test_within_an_account_the_higher_priority_job_goes_first() -> None:
    dispatcher, market, _ = make()
    node_id, link = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    market.place_bid("job_1", "buyer", 2000, None, "n1")
    market.place_bid("job_2", "buyer", 2000, None, "n2", priority=5)
    tasks = {}
    for job_id in ("job_1", "job_2"):  # the lower priority's map opens first
        request = MapRequest(ACTIVITY, [[f"{job_id}-{i}", [], []] for i in range(12)])
        tasks[job_id] = asyncio.ensure_future(
            dispatcher.run_map(job_id, 1, request, lambda d, t: None)
        )
        await asyncio.sleep(0)
    order: list[str] = []
    finished: set[str] = set()
    for _ in range(100):
        dispatcher.dispatch()
        for assign in link.assigns():
            if assign.batch_id not in finished:
                finished.add(assign.batch_id)
                order.append(assign.job_id)
                finish(dispatcher, node_id, assign)
        await asyncio.sleep(0)
        if all(task.done() for task in tasks.values()):
            break
    assert all(task.done() for task in tasks.values())
    last_high = max(i for i, job in enumerate(order) if job == "job_2")
    first_low = order.index("job_1")
    assert last_high < first_low, order
