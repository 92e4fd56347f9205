"""Mandates in the dispatcher: a seller's mandate keeps an ask in force for its account's nodes
(or one node), and stops when paused; a buyer's mandate bids for a job submitted without a bid
at its price, its trades marked as its, and once its day's budget is spent (paid, or out on
nodes) the job waits saying why, and goes on the next UTC day. An in-memory store, fake node
links and a FakeClock, as tests/unit/hub/test_dispatcher_market.py."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.hub.test_dispatcher_pools import join, run, start
from tests.unit.hub.test_dispatcher_requirements import ACTIVITY, finish

from witengine.hub.dispatch import Dispatcher, Placement
from witengine.hub.exchange.market import DAY, Market
from witengine.hub.store.base import AccountRecord
from witengine.hub.store.market import MandateSide, MandateState
from witengine.hub.store.memory import MemoryStore
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(10)

PLUGIN = ACTIVITY.rpartition(".")[0]


class Wall:
    """The market's clock of days, moved by hand."""

    def __init__(self) -> None:
        self.now = 10 * DAY + 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[Dispatcher, Market, MemoryStore, Wall]:
    store = MemoryStore()
    for name in ("cheap", "dear", "buyer"):
        store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
    wall = Wall()
    market = Market(store, wall)
    market.ledger.grant("buyer", 100_000, actor="admin")
    dispatcher = Dispatcher(
        store, FakeClock(1000.0), lease_seconds=10.0, no_node_seconds=5.0, market=market
    )
    return dispatcher, market, store, wall


async def ticks(dispatcher: Dispatcher, count: int = 5) -> None:
    for _ in range(count):
        dispatcher.dispatch()
        dispatcher.expire()
        await asyncio.sleep(0)


async def test_a_sell_mandate_sells_like_an_ask_until_paused() -> None:
    dispatcher, market, store, _ = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    mandate = market.add_mandate("cheap", MandateSide.SELL, PLUGIN, 1000, nonce="n0")
    market.place_bid("job_1", "buyer", 2000, None, "n1")
    market.set_mandate_state(mandate.id, MandateState.PAUSED)
    task = await start(dispatcher, 4)
    await ticks(dispatcher)
    assert cheap[1].assigns() == [] and not task.done()
    reason = dispatcher.view.waiting("job_1")
    assert reason is not None and "no node of an account with an ask" in reason
    market.set_mandate_state(mandate.id, MandateState.ACTIVE)
    dispatcher.expire()
    assert len(await run(dispatcher, task, cheap)) == 4
    assert store.balance("cheap") == 4 * 1000
    trades = store.list_trades(job_id="job_1")
    assert trades and {t.ask_id for t in trades} == {mandate.id}
    phases = [p.detail for p in store.trade_phases(trades[0].id) if p.phase == "matched"]
    assert phases and phases[0].startswith(f"mandate {mandate.id} at 1.000")


async def test_a_sell_mandate_for_one_node_leaves_the_accounts_other_nodes_out() -> None:
    dispatcher, market, store, _ = make()
    chosen = join(dispatcher, "gpu-1", Placement("default", True, "cheap"))
    other = join(dispatcher, "gpu-2", Placement("default", True, "cheap"))
    market.add_mandate("cheap", MandateSide.SELL, ACTIVITY, 1000, node="gpu-1")
    market.place_bid("job_1", "buyer", 2000, None, "n1")
    task = await start(dispatcher, 12)
    assert len(await run(dispatcher, task, chosen, other)) == 12
    assert chosen[1].assigns() and other[1].assigns() == []
    assert store.balance("cheap") == 12 * 1000


async def test_a_buy_mandate_bids_for_a_job_submitted_without_a_bid() -> None:
    dispatcher, market, store, _ = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    dear = join(dispatcher, "dear-node", Placement("default", True, "dear"))
    market.add_ask("cheap", ACTIVITY, 1000)
    market.add_ask("dear", ACTIVITY, 3000)
    buying = market.add_mandate("buyer", MandateSide.BUY, PLUGIN, 2000, nonce="n0")
    market.place_mandated("job_1", "buyer", "n1")
    task = await start(dispatcher, 8)
    assert len(await run(dispatcher, task, cheap, dear)) == 8
    assert dear[1].assigns() == []
    trades = store.list_trades(job_id="job_1")
    assert trades and {(t.mandate, t.bid, t.price) for t in trades} == {(buying.id, 2000, 1000)}
    dispatcher.job_ended("job_1")
    assert store.balance("buyer") == 100_000 - 8 * 1000
    assert market.spent_today(buying.id) == 8 * 1000
    assert market.ledger.verify().ok


async def test_a_job_no_buy_mandate_covers_runs_as_one_without_a_bid() -> None:
    dispatcher, market, store, _ = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    market.add_ask("cheap", ACTIVITY, 1000)
    market.add_mandate("buyer", MandateSide.BUY, "Blender", 2000)
    market.place_mandated("job_1", "buyer", "n1")
    task = await start(dispatcher, 4)
    assert len(await run(dispatcher, task, cheap)) == 4
    assert store.list_trades() == [] and store.balance("buyer") == 100_000


async def test_a_buy_mandate_past_its_daily_budget_makes_the_job_wait_till_the_next_day() -> None:
    dispatcher, market, store, wall = make()
    node_id, link = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    market.add_ask("cheap", ACTIVITY, 1000)
    buying = market.add_mandate("buyer", MandateSide.BUY, "", 2000, daily=3000)
    market.place_mandated("job_1", "buyer", "n1")
    task = await start(dispatcher, 40)
    done: set[str] = set()
    for _ in range(20):  # run every batch given, until none is
        await ticks(dispatcher, 1)
        for assign in link.assigns():
            if assign.batch_id not in done:
                done.add(assign.batch_id)
                finish(dispatcher, node_id, assign)
    assert not task.done()
    paid_first_day = store.balance("cheap")
    # It stops once the budget is paid or out: past it by less than the last batch given.
    biggest = max(len(assign.tasks) for assign in link.assigns())
    assert 3000 <= paid_first_day < 3000 + biggest * 1000
    assert market.spent_today(buying.id) == paid_first_day
    reason = dispatcher.view.waiting("job_1")
    assert reason is not None and f"buy mandate {buying.id} spent its 3.000 credits" in reason
    wall.now += DAY  # a new UTC day: a new budget
    dispatcher.expire()
    for _ in range(200):
        if task.done():
            break
        await ticks(dispatcher, 1)
        for assign in link.assigns():
            if assign.batch_id not in done:
                done.add(assign.batch_id)
                finish(dispatcher, node_id, assign)
        wall.now += DAY  # each day's budget lets some more through
        dispatcher.expire()
    assert len(await task) == 40
    assert store.balance("cheap") == 40 * 1000


async def test_a_paused_buy_mandate_holds_its_jobs_and_a_resumed_one_lets_them_go() -> None:
    dispatcher, market, store, _ = make()
    cheap = join(dispatcher, "cheap-node", Placement("default", True, "cheap"))
    market.add_ask("cheap", ACTIVITY, 1000)
    buying = market.add_mandate("buyer", MandateSide.BUY, ACTIVITY, 2000)
    market.set_mandate_state(buying.id, MandateState.PAUSED)
    market.place_mandated("job_1", "buyer", "n1")
    task = await start(dispatcher, 4)
    await ticks(dispatcher)
    assert cheap[1].assigns() == [] and not task.done()
    assert dispatcher.view.waiting("job_1") == (
        f"waiting: buy mandate {buying.id} is paused (wit mandate resume {buying.id})"
    )
    market.set_mandate_state(buying.id, MandateState.ACTIVE)
    dispatcher.expire()
    assert len(await run(dispatcher, task, cheap)) == 4
    assert store.balance("cheap") == 4 * 1000
