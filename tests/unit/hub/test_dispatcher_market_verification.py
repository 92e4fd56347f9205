"""A paid map on untrusted nodes: a result verification rejected is never paid. Three owners
sell at one ask; a cheater's answers are outvoted by the two honest owners' replicas, so its
trades show them rejected and it earns nothing, each item is paid once (its accepted result
only, not a replica's second answer), and the buyer gets back the rest of its escrow. Fake
node links over the dispatcher's API, an in-memory store, a FakeClock."""

from __future__ import annotations

import random

import pytest
from tests.unit.hub.test_dispatcher import ACTIVITY
from tests.unit.hub.test_dispatcher_verification import (
    NO_SPOTS,
    SETTINGS,
    Node,
    commits_once,
    run_map,
    truth,
)

from witengine.hub.dispatch import Dispatcher
from witengine.hub.exchange.market import Market
from witengine.hub.store.base import AccountRecord
from witengine.hub.store.ledger import escrow_account
from witengine.hub.store.memory import MemoryStore
from witengine.scheduling.verification import TrustState
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(20)
ASK, BID, GRANT = 1000, 2000, 100_000


async def test_a_result_verification_rejected_is_never_paid() -> None:
    store, clock = MemoryStore(), FakeClock(1000.0)
    for name in ("alice", "bob", "mallory", "buyer"):
        store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
    market = Market(store, lambda: 1000.0)
    dispatcher = Dispatcher(
        store,
        clock,
        scheduler=SETTINGS,
        lease_seconds=10.0,
        no_node_seconds=5.0,
        verification=NO_SPOTS,
        seed=11,
        market=market,
    )
    market.ledger.grant("buyer", GRANT, actor="admin")
    for seller in ("alice", "bob", "mallory"):
        market.add_ask(seller, ACTIVITY, ASK)
    market.place_bid("job_1", "buyer", BID, None, "n1")
    noise = random.Random(3)
    nodes = [
        Node(dispatcher, "a", owner="alice"),
        Node(dispatcher, "b", owner="bob"),
        Node(dispatcher, "cheat", lambda i: noise.random(), owner="mallory"),
    ]
    assert await run_map(dispatcher, 20, *nodes) == [truth(i) for i in range(20)]
    commits_once(store)
    assert dispatcher.view.trust(nodes[2].id, ACTIVITY).state is TrustState.BLOCKED
    cheats = store.list_trades(job_id="job_1", account="mallory")
    assert cheats, "the cheater was given paid work"
    assert all(t.paid == 0 and t.accepted == 0 for t in cheats)
    assert any(t.rejected for t in cheats)
    assert store.balance("mallory") == 0
    trades = store.list_trades(job_id="job_1")
    paid = sum(t.paid for t in trades)
    assert sum(t.accepted for t in trades) == 20  # each item's accepted result, once
    assert paid == 20 * ASK  # one work unit an item, at the ask
    assert store.balance("alice") + store.balance("bob") == paid
    dispatcher.job_ended("job_1")
    assert store.balance(escrow_account("job_1")) == 0
    assert store.balance("buyer") == GRANT - paid
    assert market.ledger.verify().ok
