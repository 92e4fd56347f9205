"""Many jobs trading at once cannot double-spend: any set of jobs, each in its own thread with
its own connection to one SQLite file (as two hub processes would have), reserving its cost
from its buyer's account, paying accepted results to sellers (less the exchange's fee) and
refunding the rest, leaves no balance below zero, the accounts' sum equal to the grants, every
escrow empty, each buyer down by exactly what its reserved jobs paid, and the chain verified.
A job its buyer could not cover is refused whole by the store, and none is refused while all fit."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.hub.exchange.fees import HIGHEST, split
from witengine.hub.exchange.ledger import Ledger
from witengine.hub.store.base import AccountRecord
from witengine.hub.store.ledger import FEES, MINT, Overdrawn, escrow_account
from witengine.hub.store.sqlite import SqliteStore

BUYERS = ("ann", "ben")
SELLERS = ("cat", "dan")
job = st.tuples(
    st.sampled_from(BUYERS),
    st.integers(1, 6000),  # what its map reserves
    st.lists(st.tuples(st.sampled_from(SELLERS), st.integers(1, 1500), st.booleans()), max_size=5),
)


@dataclass
class Outcome:
    reserved: bool = False
    paid: int = 0
    earned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SELLERS, 0))
    fees: int = 0


def run_job(
    path: Path,
    number: int,
    spec: tuple[str, int, list[tuple[str, int, bool]]],
    fee: int,
    start: threading.Barrier,
    outcome: Outcome,
) -> None:
    buyer, cost, results = spec
    store = SqliteStore(path)
    ledger = Ledger(store, lambda: 1.0)
    job_id = f"job_{number}"
    try:
        start.wait()
        try:
            ledger.reserve(buyer, job_id, cost)
        except Overdrawn:
            return
        outcome.reserved = True
        for seller, price, accepted in results:
            if not accepted or outcome.paid + price > cost:
                continue  # failed, rejected or beyond the reservation: not paid
            earned, taken = split(price, fee)
            ledger.settle(job_id, seller, earned, fee=taken)
            outcome.paid += price
            outcome.earned[seller] += earned
            outcome.fees += taken
        if cost > outcome.paid:
            ledger.refund(job_id, buyer, cost - outcome.paid)
    finally:
        store.close()


@settings(deadline=None, max_examples=12)
@given(
    st.lists(job, min_size=2, max_size=10),
    st.tuples(st.integers(0, 15_000), st.integers(0, 15_000)),
    st.sampled_from((0, 200, HIGHEST)),
)
def test_concurrent_jobs_never_double_spend(
    jobs: list[tuple[str, int, list[tuple[str, int, bool]]]],
    grants: tuple[int, int],
    fee: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hub.sqlite3"
        store = SqliteStore(path)
        try:
            ledger = Ledger(store, lambda: 1.0)
            for name in BUYERS + SELLERS:
                store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
            for buyer, amount in zip(BUYERS, grants, strict=True):
                if amount:
                    ledger.grant(buyer, amount, actor="admin")
            outcomes = [Outcome() for _ in jobs]
            start = threading.Barrier(len(jobs))
            threads = [
                threading.Thread(target=run_job, args=(path, n, spec, fee, start, outcomes[n]))
                for n, spec in enumerate(jobs)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(thread.is_alive() for thread in threads)

            balances = store.balances()
            assert all(v >= 0 for k, v in balances.items() if k != MINT), balances
            assert sum(v for k, v in balances.items() if k != MINT) == sum(grants)
            for n in range(len(jobs)):
                assert store.balance(escrow_account(f"job_{n}")) == 0
            for buyer, granted in zip(BUYERS, grants, strict=True):
                reserved = [
                    (o, cost) for o, (b, cost, _) in zip(outcomes, jobs, strict=True) if b == buyer
                ]
                spent = sum(o.paid for o, _ in reserved if o.reserved)
                assert store.balance(buyer) == granted - spent
                # One its buyer could never cover is refused; all are taken when all fit.
                assert not any(o.reserved for o, cost in reserved if cost > granted)
                if sum(cost for _, cost in reserved) <= granted:
                    assert all(o.reserved for o, _ in reserved)
            for seller in SELLERS:
                assert store.balance(seller) == sum(o.earned[seller] for o in outcomes)
            assert store.balance(FEES) == sum(o.fees for o in outcomes)
            assert ledger.verify().ok
        finally:
            store.close()
