"""The market's money under any sequence of grants, jobs with bids (reserved as they open, or
refused when their buyer holds too little), accepted results paid at the seller's ask,
rejected and failed items, cancellations and job ends, on both stores: no balance but the
mint's ever below zero, the accounts' sum changes only by grants, the chain verifies after
every step, and once a job ends its buyer paid exactly its accepted work times the trades'
prices and its escrow is empty. With an exchange's fee of any rate, each settlement's price
is split between its seller and `exchange:fees` at that rate, rounded down for the fee."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.hub.exchange.fees import HIGHEST, WHOLE
from witengine.hub.exchange.market import Market, Unaffordable
from witengine.hub.store.base import AccountRecord, Store
from witengine.hub.store.ledger import FEES, MINT, escrow_account
from witengine.hub.store.market import TradeRecord
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.sqlite import SqliteStore
from witengine.scheduling.market import cost

BUYERS = ("ann", "ben")
SELLERS = ("cat", "dan")
JOBS = ("job_1", "job_2", "job_3")
work = st.floats(min_value=0.0, max_value=50.0, allow_nan=False).map(lambda w: round(w, 3))
step = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(BUYERS), st.integers(1, 200_000)),
    st.tuples(
        st.just("open"),
        st.sampled_from(JOBS),
        st.sampled_from(BUYERS),
        st.integers(0, 5000),
        st.lists(work, min_size=1, max_size=6),
    ),
    st.tuples(
        st.just("result"),
        st.sampled_from(JOBS),
        st.integers(0, 5),
        st.sampled_from(SELLERS),
        st.integers(0, 5000),
        st.sampled_from(("accepted", "rejected", "failed")),
    ),
    st.tuples(st.just("end"), st.sampled_from(JOBS)),
)


@dataclass
class Job:
    buyer: str
    bid: int
    work: list[float]
    answered: set[int] = field(default_factory=set)
    paid: int = 0


def play(store: Store, steps: list[tuple[object, ...]], fee: int = 0) -> None:
    for name in BUYERS + SELLERS:
        store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
    market = Market(store, lambda: 1.0, fee=fee)
    granted = 0
    earned = dict.fromkeys(SELLERS, 0)
    fees = 0
    jobs: dict[str, Job] = {}
    ended: set[str] = set()
    for number, (kind, *args) in enumerate(steps):
        if kind == "grant":
            market.ledger.grant(str(args[0]), int(str(args[1])), actor="admin")
            granted += int(str(args[1]))
        elif kind == "open":
            job_id, buyer, price, items = str(args[0]), str(args[1]), int(str(args[2])), args[3]
            if job_id in jobs or job_id in ended:
                continue
            assert isinstance(items, list)
            bid = market.place_bid(job_id, buyer, price, None, f"nonce{number}")
            before = store.balances()
            try:
                market.reserve(bid, sum(cost(price, w) for w in items), "the map")
            except Unaffordable:
                assert store.balances() == before, "a refused reservation moved credits"
                ended.add(job_id)
                continue
            jobs[job_id] = Job(buyer, price, list(items))
        elif kind == "result":
            job_id, index, seller, ask, verdict = args
            found = jobs.get(str(job_id))
            index = int(str(index))
            if found is None or index >= len(found.work) or index in found.answered:
                continue
            ask = min(int(str(ask)), found.bid)  # a node above the bid is never matched
            trade_id = f"batch_{number}"
            market.open_trade(
                TradeRecord(trade_id, str(job_id), "map", "node", "n", str(seller),
                            found.buyer, "Compute.Work", ask, found.bid, 1, found.work[index])
            )  # fmt: skip
            found.answered.add(index)
            if verdict == "accepted":
                amount = cost(ask, found.work[index])
                market.settle(trade_id, 1, amount)
                found.paid += amount
                fees += amount * fee // WHOLE
                earned[str(seller)] += amount - amount * fee // WHOLE
                assert store.balance(str(seller)) == earned[str(seller)]
                assert store.balance(FEES) == fees
            elif verdict == "rejected":
                market.rejected(trade_id, 1, "outvoted")
            market.close_trade(trade_id, "done")
        elif kind == "end":
            job_id = str(args[0])
            found = jobs.pop(job_id, None)
            if found is None:
                continue
            before = store.balance(found.buyer)
            held = store.balance(escrow_account(job_id))
            market.job_ended(job_id)
            ended.add(job_id)
            assert store.balance(escrow_account(job_id)) == 0
            assert store.balance(found.buyer) == before + held
            reserved = sum(cost(found.bid, w) for w in found.work)
            assert held == reserved - found.paid, "the escrow held other than reserved - paid"
        balances = store.balances()
        assert all(v >= 0 for k, v in balances.items() if k != MINT), balances
        assert sum(v for k, v in balances.items() if k != MINT) == granted
        assert market.ledger.verify().ok


@settings(deadline=None, max_examples=40)
@given(st.lists(step, max_size=40), st.sampled_from((0, 1, 200, 333, HIGHEST)))
def test_the_market_keeps_every_balance_on_the_memory_store(
    steps: list[tuple[object, ...]], fee: int
) -> None:
    play(MemoryStore(), steps, fee)


@settings(deadline=None, max_examples=15)
@given(st.lists(step, max_size=30), st.integers(0, HIGHEST))
def test_the_market_keeps_every_balance_on_sqlite(
    steps: list[tuple[object, ...]], fee: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "hub.sqlite3")
        try:
            play(store, steps, fee)
        finally:
            store.close()
