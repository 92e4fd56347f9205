"""Asks, mandates, bids, trades and their phases, kept alike by the memory, SQLite and
PostgreSQL stores (the SQLite one across a reopening: migrations 13 and 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.hub.store.market import (
    AskRecord,
    BidRecord,
    MandateRecord,
    TradePhase,
    TradeRecord,
)
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.postgres import PostgresStore
from witengine.hub.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore | SqliteStore]:
    made: Any
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "hub.sqlite3")
    else:  # a database of its own on the session's throw-away server (tests/conftest.py)
        made = PostgresStore(request.getfixturevalue("postgres_url"))
    yield made
    made.close()


def trade(number: int, job: str, seller: str, buyer: str = "ann") -> TradeRecord:
    return TradeRecord(
        f"batch_{number}", job, "map_1", "node_1", "n1", seller, buyer, "Compute.Work",
        1000, 2000, 3, 3.0, created_at=number, updated_at=number, ask_id="ask_1",
    )  # fmt: skip


def test_asks_are_listed_in_the_order_made_and_removed_once(
    store: MemoryStore | SqliteStore,
) -> None:
    first = AskRecord("ask_1", "cat", "Compute.Work", 1000, "22-06", 0.0, 1.0, "n1")
    second = AskRecord("ask_2", "dan", "Compute", 0, "", 5.0, 2.0, "n2")
    store.add_ask(first)
    store.add_ask(second)
    assert store.list_asks() == [first, second]
    assert store.list_asks("dan") == [second]
    assert store.remove_ask("ask_1") and not store.remove_ask("ask_1")
    assert store.list_asks() == [second]


def mandate(number: int, account: str, side: str = "sell") -> MandateRecord:
    return MandateRecord(
        f"man_{number}", account, side, "render", 3000, "22-06" if side == "sell" else "",
        "gpu-1" if side == "sell" else "", 0 if side == "sell" else 500_000, "active",
        float(number), f"n{number}",
    )  # fmt: skip


def test_mandates_are_listed_in_the_order_made_paused_resumed_and_removed_once(
    store: MemoryStore | SqliteStore,
) -> None:
    sell, buy, other = mandate(1, "cat"), mandate(2, "ann", "buy"), mandate(3, "cat", "buy")
    for made in (sell, buy, other):
        store.add_mandate(made)
    assert store.list_mandates() == [sell, buy, other]
    assert store.list_mandates("cat") == [sell, other]
    assert store.set_mandate_state("man_2", "paused")
    assert store.list_mandates("ann") == [MandateRecord(**{**vars(buy), "state": "paused"})]
    assert store.set_mandate_state("man_2", "active")
    assert store.list_mandates("ann") == [buy]
    assert not store.set_mandate_state("man_9", "paused")
    assert store.remove_mandate("man_1") and not store.remove_mandate("man_1")
    assert store.list_mandates() == [buy, other]


def test_what_a_buyers_mandate_spent_sums_its_trades_made_since_a_time(
    store: MemoryStore | SqliteStore,
) -> None:
    for number, under, paid in ((1, "man_2", 1000), (5, "man_2", 2500), (6, "", 700)):
        made = TradeRecord(**{**vars(trade(number, "job_1", "cat")), "mandate": under})
        store.put_trade(made)
        store.put_trade(TradeRecord(**{**vars(made), "paid": paid}))
    assert store.get_trade("batch_5") is not None
    assert store.get_trade("batch_5").mandate == "man_2"  # type: ignore[union-attr]
    assert store.spent_under("man_2", 0.0) == 3500
    assert store.spent_under("man_2", 2.0) == 2500
    assert store.spent_under("man_2", 9.0) == 0
    assert store.spent_under("man_7", 0.0) == 0


def test_a_bid_is_kept_per_job(store: MemoryStore | SqliteStore) -> None:
    assert store.get_bid("job_1") is None
    bid = BidRecord("job_1", "ann", 2000, 1e9, 1.0, "nonce")
    store.put_bid(bid)
    assert store.get_bid("job_1") == bid
    mandated = BidRecord("job_3", "ann", 0, None, 1.0, "nonce2", "mandated", priority=-2)
    store.put_bid(mandated)
    assert store.get_bid("job_3") == mandated
    first = BidRecord("job_4", "ann", 1000, None, 1.0, "nonce3", priority=7)
    store.put_bid(first)
    store.put_bid(BidRecord(**{**vars(first), "priority": 3}))  # put again: replaced
    assert store.get_bid("job_4") == BidRecord(**{**vars(first), "priority": 3})
    assert store.get_bid("job_1") is not None and store.get_bid("job_2") is None


def test_trades_are_found_by_job_and_account_newest_first_with_their_phases(
    store: MemoryStore | SqliteStore,
) -> None:
    store.put_trade(trade(1, "job_1", "cat"))
    store.put_trade(trade(2, "job_2", "dan", buyer="ben"))
    store.put_trade(trade(3, "job_1", "dan"))
    paid = trade(1, "job_1", "cat")
    paid = TradeRecord(**{**vars(paid), "accepted": 3, "paid": 3000, "state": "settled"})
    store.put_trade(paid)  # counters and state replaced, not a second trade
    assert store.get_trade("batch_1") == paid
    assert [t.id for t in store.list_trades()] == ["batch_3", "batch_2", "batch_1"]
    assert [t.id for t in store.list_trades(job_id="job_1")] == ["batch_3", "batch_1"]
    assert [t.id for t in store.list_trades(account="dan")] == ["batch_3", "batch_2"]
    assert [t.id for t in store.list_trades(account="ben")] == ["batch_2"]
    assert [t.id for t in store.list_trades(job_id="job_1", account="dan", limit=5)] == ["batch_3"]
    phases = [
        TradePhase("batch_1", "matched", 1.0, "ask_1"),
        TradePhase("batch_1", "assigned", 2.0),
    ]
    store.add_phases(phases)
    store.add_phases([TradePhase("batch_1", "settled", 3.0, "3.000 credits")])
    assert [p.phase for p in store.trade_phases("batch_1")] == ["matched", "assigned", "settled"]
    assert store.trade_phases("batch_2") == []


def test_sqlite_keeps_the_market_across_a_reopening(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    first = SqliteStore(path)
    first.add_ask(AskRecord("ask_1", "cat", "Compute.Work", 1000, "", 0.0, 1.0, "n1"))
    first.put_trade(trade(1, "job_1", "cat"))
    first.add_phases([TradePhase("batch_1", "matched", 1.0)])
    first.add_mandate(mandate(1, "cat"))
    first.close()
    again = SqliteStore(path)
    assert [a.id for a in again.list_asks()] == ["ask_1"]
    assert again.get_trade("batch_1") == trade(1, "job_1", "cat")
    assert [p.phase for p in again.trade_phases("batch_1")] == ["matched"]
    assert again.list_mandates() == [mandate(1, "cat")]
    again.close()
