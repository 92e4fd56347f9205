"""The exchange's part of the Store contract, on both stores: accounts, signed requests (a
nonce is taken once, even after the store is opened again) and the double-entry ledger (posts
balanced and chained, never below zero but the mint's, enforced by the store itself)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.hub.exchange.ledger import Ledger, UnknownAccount
from witengine.hub.store.base import AccountRecord, SignedRecord, Store
from witengine.hub.store.ledger import (
    GENESIS,
    MINT,
    Entry,
    Overdrawn,
    Unbalanced,
    transaction_hash,
    verify,
)
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.postgres import PostgresStore
from witengine.hub.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "hub.sqlite3")
    else:  # a database of its own on the session's throw-away server (tests/conftest.py)
        made = PostgresStore(request.getfixturevalue("postgres_url"))
    yield made
    made.close()


def account(name: str, state: str = "active") -> AccountRecord:
    return AccountRecord(name, "A" * 43 + "=", state, 1.0)


def signed(nonce: str, account: str = "alice") -> SignedRecord:
    return SignedRecord(account, nonce, 100, "POST", "/api/v1/ledger/transfers", "{}", "sig", 2.0)


def everything(store: Store) -> list[object]:
    return [store.transactions(), store.balances()]


def test_an_account_is_added_once_and_approved_from_pending(store: Store) -> None:
    assert store.add_account(account("alice", "pending"))
    assert not store.add_account(account("alice"))
    assert store.get_account("alice") == account("alice", "pending")
    assert store.approve_account("alice", 5.0, "tok_1")
    assert not store.approve_account("alice", 6.0, "tok_1")
    approved = store.get_account("alice")
    assert approved is not None and (approved.state, approved.approved_at) == ("active", 5.0)
    assert not store.approve_account("nobody", 5.0, None)
    store.add_account(account("aaron"))
    assert [a.name for a in store.list_accounts()] == ["aaron", "alice"]


def test_a_nonce_is_taken_once_per_account(store: Store) -> None:
    assert store.keep_signed(signed("n" * 16))
    assert not store.keep_signed(signed("n" * 16))
    assert store.keep_signed(signed("n" * 16, account="bob"))
    assert [r.account for r in store.signed_requests()] == ["alice", "bob"]
    assert store.signed_requests("bob") == [signed("n" * 16, account="bob")]


def test_a_nonce_is_refused_again_after_the_store_is_opened_again(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "hub.sqlite3")
    assert first.keep_signed(signed("m" * 16))
    first.close()
    again = SqliteStore(tmp_path / "hub.sqlite3")
    assert not again.keep_signed(signed("m" * 16))
    again.close()


def test_posts_are_balanced_chained_and_move_balances(store: Store) -> None:
    one = store.post("grant", [Entry(MINT, -5000), Entry("alice", 5000)], at=1.0, actor="admin")
    two = store.post("transfer", [Entry("alice", -2000), Entry("bob", 2000)], at=2.0, actor="a")
    assert (one.seq, one.previous, two.seq, two.previous) == (1, GENESIS, 2, one.hash)
    assert two.hash == transaction_hash(one.hash, 2, "transfer", 2.0, "a", "", two.entries)
    assert store.balances() == {MINT: -5000, "alice": 3000, "bob": 2000}
    assert store.balance("carol") == 0
    assert [tx.seq for tx in store.transactions(account="bob")] == [2]
    assert store.transactions(after=1) == [two]
    assert verify(store.transactions(), store.balances()).ok


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("alice", 10)],
        [Entry(MINT, -10), Entry("alice", 9)],
        [Entry(MINT, 0), Entry("alice", 0)],
        [Entry(MINT, -10), Entry(MINT, 10)],
    ],
)
def test_an_unbalanced_post_is_refused_and_writes_nothing(
    store: Store, entries: list[Entry]
) -> None:
    with pytest.raises(Unbalanced):
        store.post("grant", entries, at=1.0, actor="admin")
    assert everything(store) == [[], {}]


def test_an_overdrawing_post_is_refused_whole_and_names_the_account(store: Store) -> None:
    store.post("grant", [Entry(MINT, -1000), Entry("alice", 1000)], at=1.0, actor="admin")
    before = everything(store)
    with pytest.raises(Overdrawn, match=r"account .alice. holds 1\.000 credits, and this needs"):
        store.post(
            "settle",
            [Entry("bob", 500), Entry("alice", -1500), Entry("exchange:fees", 1000)],
            at=2.0,
            actor="hub",
        )
    assert everything(store) == before


def test_the_database_itself_refuses_a_negative_balance_and_edits_of_the_ledger(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3")
    store.post("grant", [Entry(MINT, -1000), Entry("alice", 1000)], at=1.0, actor="admin")
    store.close()
    db = sqlite3.connect(tmp_path / "hub.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute("UPDATE balances SET balance = -1 WHERE account = 'alice'")
    for statement in ("UPDATE entries SET amount = 5", "DELETE FROM ledger"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.close()


def test_an_edited_amount_in_the_file_is_found_naming_its_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite3")
    ledger = Ledger(store, lambda: 1.0)
    for name in ("alice", "bob"):
        store.add_account(account(name))
    ledger.grant("alice", 5000, actor="admin")
    ledger.transfer("alice", "bob", 1000, actor="alice")
    ledger.transfer("bob", "alice", 500, actor="bob")
    assert ledger.verify().ok
    db = sqlite3.connect(tmp_path / "hub.sqlite3")
    db.execute("DROP TRIGGER entries_no_update")  # what someone editing the file would do
    db.execute("UPDATE entries SET amount = amount * 2 WHERE seq = 2")
    db.commit()
    db.close()
    verdict = ledger.verify()
    assert (verdict.ok, verdict.bad_seq) == (False, 2)
    assert verdict.problem.startswith("transaction 2: its hash does not match its contents")
    store.close()


def test_an_unknown_or_pending_account_cannot_be_paid(store: Store) -> None:
    ledger = Ledger(store, lambda: 1.0)
    store.add_account(account("pat", "pending"))
    with pytest.raises(UnknownAccount, match="no account named 'nobody'"):
        ledger.grant("nobody", 10, actor="admin")
    with pytest.raises(UnknownAccount, match="waiting for an admin's approval"):
        ledger.grant("pat", 10, actor="admin")
    for own in (MINT, "exchange:fees", "escrow:job_1"):
        with pytest.raises(UnknownAccount, match="one of the ledger's own accounts"):
            ledger.grant(own, 10, actor="admin")
    assert everything(store) == [[], {}]


def test_escrow_reserves_settles_with_a_fee_and_refunds_the_rest(store: Store) -> None:
    ledger = Ledger(store, lambda: 1.0)
    for name in ("buyer", "seller"):
        store.add_account(account(name))
    ledger.grant("buyer", 10_000, actor="admin")
    ledger.reserve("buyer", "job_1", 6000)
    ledger.settle("job_1", "seller", 4000, fee=400)
    with pytest.raises(Overdrawn):
        ledger.settle("job_1", "seller", 2000)
    ledger.refund("job_1", "buyer", 1600)
    assert store.balances() == {
        MINT: -10_000,
        "buyer": 5600,
        "escrow:job_1": 0,
        "exchange:fees": 400,
        "seller": 4000,
    }
    assert ledger.verify().ok


def test_concurrent_transfers_from_one_account_never_overdraw_it(tmp_path: Path) -> None:
    # Two stores on one file: two connections, as two hub processes would have; only the
    # database's transactions keep them apart.
    store, other = (SqliteStore(tmp_path / "hub.sqlite3") for _ in range(2))
    ledger = Ledger(store, lambda: 1.0)
    ledgers = (ledger, Ledger(other, lambda: 1.0))
    names = ["payer", *(f"payee{n}" for n in range(8))]
    for name in names:
        store.add_account(account(name))
    ledger.grant("payer", 10_000, actor="admin")
    paid: list[int] = []
    refused: list[int] = []
    start = threading.Barrier(8)

    def pay(n: int) -> None:
        start.wait()
        for _ in range(5):
            try:
                ledgers[n % 2].transfer("payer", f"payee{n}", 700, actor="payer")
                paid.append(n)
            except Overdrawn:
                refused.append(n)

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paid) == 10_000 // 700 and len(refused) == 40 - len(paid)
    assert store.balance("payer") == 10_000 - 700 * len(paid) >= 0
    assert ledger.verify().ok
    assert [tx.seq for tx in store.transactions(account="payee3")] == [
        tx.seq for tx in store.transactions() if any(e.account == "payee3" for e in tx.entries)
    ]
    store.close()
    other.close()
