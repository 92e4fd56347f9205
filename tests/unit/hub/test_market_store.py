"""Asks, bids, trades and their phases, kept alike by the memory, SQLite and PostgreSQL stores
(the SQLite one across a reopening: migration 13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.hub.store.market import AskRecord, BidRecord, TradePhase, TradeRecord
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


def test_a_bid_is_kept_per_job(store: MemoryStore | SqliteStore) -> None:
    assert store.get_bid("job_1") is None
    bid = BidRecord("job_1", "ann", 2000, 1e9, 1.0, "nonce")
    store.put_bid(bid)
    assert store.get_bid("job_1") == bid
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
    first.close()
    again = SqliteStore(path)
    assert [a.id for a in again.list_asks()] == ["ask_1"]
    assert again.get_trade("batch_1") == trade(1, "job_1", "cat")
    assert [p.phase for p in again.trade_phases("batch_1")] == ["matched"]
    again.close()
