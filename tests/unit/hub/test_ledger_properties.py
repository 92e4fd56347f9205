"""The ledger's invariants under any sequence of grants, transfers, reserves, settles and
refunds, on the three stores (memory, SQLite, PostgreSQL): a move is refused (Overdrawn,
nothing written) exactly when it would take an account below zero; no balance but the mint's
is ever below zero; the accounts hold together exactly what was granted; and the chain
verifies after every step."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.hub.exchange.ledger import Ledger
from witengine.hub.store.base import AccountRecord, Store
from witengine.hub.store.ledger import MINT, Overdrawn, escrow_account
from witengine.hub.store.memory import MemoryStore
from witengine.hub.store.postgres import PostgresStore
from witengine.hub.store.sqlite import SqliteStore
from witengine.testing.postgres import ThrowawayCluster

PEOPLE = ("ann", "ben", "cat")
JOBS = ("job_1", "job_2")
person = st.sampled_from(PEOPLE)
job = st.sampled_from(JOBS)
amount = st.integers(min_value=1, max_value=5000)
move = st.one_of(
    st.tuples(st.just("grant"), person, amount),
    st.tuples(st.just("transfer"), person, person, amount),
    st.tuples(st.just("reserve"), person, job, amount),
    st.tuples(st.just("settle"), job, person, amount, st.integers(0, 300)),
    st.tuples(st.just("refund"), job, person, amount),
)


def play(store: Store, moves: list[tuple[object, ...]]) -> None:
    ledger = Ledger(store, lambda: 1.0)
    for name in PEOPLE:
        store.add_account(AccountRecord(name, "A" * 43 + "=", "active", 0.0))
    granted = 0
    for step in moves:
        kind, *args = step
        before = store.balances()
        wanted = _needs(step)
        try:
            if kind == "grant":
                ledger.grant(str(args[0]), int(args[1]), actor="admin")
                granted += int(args[1])
            elif kind == "transfer" and args[0] != args[1]:
                ledger.transfer(str(args[0]), str(args[1]), int(args[2]), actor="a")
            elif kind == "reserve":
                ledger.reserve(str(args[0]), str(args[1]), int(args[2]))
            elif kind == "settle":
                ledger.settle(str(args[0]), str(args[1]), int(args[2]), fee=int(args[3]))
            elif kind == "refund":
                ledger.refund(str(args[0]), str(args[1]), int(args[2]))
            refused = False
        except Overdrawn:
            refused = True
            assert store.balances() == before, "a refused move wrote something"
        if wanted is not None:
            payer, needed = wanted
            assert refused == (before.get(payer, 0) < needed), step
        balances = store.balances()
        assert all(v >= 0 for k, v in balances.items() if k != MINT), balances
        assert sum(v for k, v in balances.items() if k != MINT) == granted
        assert balances.get(MINT, 0) == -granted
    verdict = ledger.verify()
    assert verdict.ok, verdict.problem


def _needs(step: tuple[object, ...]) -> tuple[str, int] | None:
    """The account a move takes from, and how much it needs there."""
    kind, *args = step
    if kind == "transfer" and args[0] != args[1]:
        return str(args[0]), int(args[2])
    if kind == "reserve":
        return str(args[0]), int(args[2])
    if kind == "settle":
        return escrow_account(str(args[0])), int(args[2]) + int(args[3])
    if kind == "refund":
        return escrow_account(str(args[0])), int(args[2])
    return None


@settings(deadline=None, max_examples=40)
@given(st.lists(move, max_size=30))
def test_any_sequence_of_moves_keeps_the_memory_ledger_whole(
    moves: list[tuple[object, ...]],
) -> None:
    play(MemoryStore(), moves)


@settings(deadline=None, max_examples=8)
@given(st.lists(move, max_size=30))
def test_any_sequence_of_moves_keeps_the_sqlite_ledger_whole(
    moves: list[tuple[object, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "hub.sqlite3")
        try:
            play(store, moves)
        finally:
            store.close()


@settings(deadline=None, max_examples=8)
@given(st.lists(move, max_size=30))
def test_any_sequence_of_moves_keeps_the_postgresql_ledger_whole(
    postgres_cluster: ThrowawayCluster, moves: list[tuple[object, ...]]
) -> None:
    name = postgres_cluster.database()  # one of its own for each example
    store = PostgresStore(postgres_cluster.url(name))
    try:
        play(store, moves)
    finally:
        store.close()
        postgres_cluster.release(name)
