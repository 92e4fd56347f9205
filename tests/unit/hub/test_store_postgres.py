"""What only the PostgreSQL store promises, beside the contract it shares with the others
(test_store_contract.py, test_store_exchange.py): state kept across stores opened again, the
database's own rules (no balance below zero, append-only tables), exactly-once commits and
numbering with writers in several threads and stores at once, its migrations, and clear errors
for a URL it cannot use. A real server: the session's throw-away cluster (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from witengine.errors import StoreUnavailable
from witengine.hub.exchange.ledger import Ledger
from witengine.hub.store.base import (
    AccountRecord,
    AuditRecord,
    BoardWrite,
    Commit,
    PoolRecord,
    SignedRecord,
)
from witengine.hub.store.ledger import MINT, Entry, Overdrawn
from witengine.hub.store.opening import open_store
from witengine.hub.store.postgres import PostgresStore, shown_url, split_url
from witengine.hub.store.postgres_schema import MIGRATIONS
from witengine.protocol.states import PoolTier
from witengine.testing.postgres import ThrowawayCluster

ITEMS = [[f"item-{i}"] for i in range(3_000)]


def together(count: int, work: Callable[[int], None]) -> None:
    """Run work(0) … work(count - 1) in threads released at once; re-raise the first error."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_state_is_kept_by_the_database_for_the_next_store(postgres_url: str) -> None:
    first = PostgresStore(postgres_url)
    first.open_map("map_1", "job_1", 1, "Compute.Hash", "d", ITEMS[:4])
    first.set_attempts("map_1", [(0, 1), (1, 1)])
    assert first.commit("map_1", [Commit(0, 1, "zero")]) == [0]
    first.close()
    again = PostgresStore(postgres_url)
    try:
        state = again.open_map("map_new", "job_1", 1, "Compute.Hash", "d", ITEMS[:4])
        assert (state.record.id, state.results) == ("map_1", {0: "zero"})
        assert state.attempts == {0: 1, 1: 1, 2: 0, 3: 0}
        assert again.commit("map_1", [Commit(0, 1, "again"), Commit(1, 1, "one")]) == [1]
    finally:
        again.close()


def test_a_write_is_seen_by_another_store_before_the_first_closes(postgres_url: str) -> None:
    writer, reader = PostgresStore(postgres_url), PostgresStore(postgres_url)
    try:
        writer.put_pool(PoolRecord("lab", PoolTier.UNTRUSTED, 3.0))
        assert reader.get_pool("lab") == PoolRecord("lab", PoolTier.UNTRUSTED, 3.0)
    finally:
        writer.close()
        reader.close()


def test_a_store_works_again_once_its_server_has_restarted(
    postgres_cluster: ThrowawayCluster, postgres_url: str
) -> None:
    store = PostgresStore(f"{postgres_url}&pool_min=2&pool_max=2")
    try:
        store.put_pool(PoolRecord("lab", PoolTier.UNTRUSTED, 3.0))
        postgres_cluster.restart()  # both connections of the pool are broken
        # A read is asked again on a new connection; a write meets a broken one at most once.
        assert store.get_pool("lab") == PoolRecord("lab", PoolTier.UNTRUSTED, 3.0)
        try:
            store.put_pool(PoolRecord("farm", PoolTier.TRUSTED, 4.0))
        except psycopg.OperationalError:
            store.put_pool(PoolRecord("farm", PoolTier.TRUSTED, 4.0))
        assert [p.name for p in store.list_pools()] == ["default", "farm", "lab"]
    finally:
        store.close()


def test_each_item_commits_once_when_two_stores_commit_it_from_many_threads(
    postgres_url: str,
) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:
        stores[0].open_map("map_1", "job_1", 1, "Compute.Hash", "d", ITEMS)
        stores[0].set_attempts("map_1", [(i, 1) for i in range(len(ITEMS))])
        accepted: list[list[int]] = [[] for _ in range(6)]

        def offer(n: int) -> None:
            # Every thread offers every item, in batches, in its own order.
            order = list(range(len(ITEMS)))[n % 3 :: 1] + list(range(n % 3))
            for start in range(0, len(order), 250):
                batch = [Commit(i, 1, f"v{i} by {n}") for i in order[start : start + 250]]
                accepted[n] += stores[n % 2].commit("map_1", batch)

        together(6, offer)
        every = sorted(i for taken in accepted for i in taken)
        assert every == list(range(len(ITEMS)))  # each item accepted once, by one thread
        assert set(stores[1].commit_counts("map_1").values()) == {1}
        results = stores[1].map_results("map_1")
        owner = {i: n for n, taken in enumerate(accepted) for i in taken}
        assert all(results[i] == f"v{i} by {owner[i]}" for i in range(len(ITEMS)))
    finally:
        for store in stores:
            store.close()


def test_a_commit_never_passes_the_attempt_sent_out_after_it(postgres_url: str) -> None:
    """A commit of attempt 1 racing the sending of attempt 2: taken only if it came first, and
    then the item counts one commit; otherwise refused."""
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:
        count = 400
        stores[0].open_map("map_1", "job_1", 1, "Compute.Hash", "d", ITEMS[:count])
        stores[0].set_attempts("map_1", [(i, 1) for i in range(count)])
        taken: list[int] = []

        def race(n: int) -> None:
            for i in range(count):
                if n == 0:
                    taken.extend(stores[0].commit("map_1", [Commit(i, 1, "late")]))
                else:
                    stores[1].set_attempts("map_1", [(i, 2)])

        together(2, race)
        late = set(taken)
        state = stores[0].open_map("map_x", "job_1", 1, "Compute.Hash", "d", ITEMS[:count])
        assert set(state.results) == late
        assert state.attempts == dict.fromkeys(range(count), 2)
        again = stores[1].commit("map_1", [Commit(i, 2, "current") for i in range(count)])
        assert sorted(again) == sorted(set(range(count)) - late)
        assert set(stores[0].commit_counts("map_1").values()) == {1}
    finally:
        for store in stores:
            store.close()


def test_events_appended_from_many_threads_are_numbered_without_gap(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:
        lasts: list[int] = []

        def append(n: int) -> None:
            for k in range(20):
                lasts.append(stores[n % 2].append_events("job_1", [{"n": n, "k": k}] * 3))

        together(4, append)
        events = stores[0].events("job_1")
        assert [seq for seq, _ in events] == list(range(1, 241))
        assert sorted(lasts) == list(range(3, 241, 3))
        assert stores[1].append_events("job_1", []) == 240
    finally:
        for store in stores:
            store.close()


def test_board_changes_from_many_threads_are_numbered_in_order(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:

        def write(n: int) -> None:
            for k in range(15):
                stores[n % 2].board_write(
                    BoardWrite(f"k{k % 3}", [n, k], "hub", 1.0), keep=100, max_keys=10
                )

        together(4, write)
        changes = stores[0].board_changes()
        assert [c.seq for c in changes] == list(range(1, 61))
        for key in ("k0", "k1", "k2"):
            versions = [c.version for c in changes if c.key == key]
            assert versions == list(range(1, 21))
    finally:
        for store in stores:
            store.close()


def test_concurrent_transfers_from_two_stores_never_overdraw(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(2)]
    try:
        ledgers = [Ledger(store, lambda: 1.0) for store in stores]
        for name in ["payer", *(f"payee{n}" for n in range(6))]:
            stores[0].add_account(AccountRecord(name, "A" * 43 + "=", "active", 1.0))
        ledgers[0].grant("payer", 10_000, actor="admin")
        paid: list[int] = []

        def pay(n: int) -> None:
            for _ in range(5):
                try:
                    ledgers[n % 2].transfer("payer", f"payee{n}", 700, actor="payer")
                    paid.append(n)
                except Overdrawn:
                    pass

        together(6, pay)
        assert len(paid) == 10_000 // 700
        assert stores[1].balance("payer") == 10_000 - 700 * len(paid)
        assert ledgers[1].verify().ok
    finally:
        for store in stores:
            store.close()


def test_the_database_itself_refuses_a_negative_balance_and_edits_of_the_ledger(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    store.post("grant", [Entry(MINT, -1000), Entry("alice", 1000)], at=1.0, actor="admin")
    store.keep_signed(SignedRecord("alice", "n" * 16, 1, "POST", "/", "{}", "sig", 1.0))
    store.append_audit(AuditRecord(1.0, "token.create", "ok"))
    store.close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute("UPDATE balances SET balance = -1 WHERE account = 'alice'")
        for statement in (
            "UPDATE entries SET amount = 5",
            "DELETE FROM ledger",
            "TRUNCATE audit",
            "DELETE FROM signed_requests",
        ):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
                db.execute(statement)
        with pytest.raises(psycopg.errors.UniqueViolation):  # the chain cannot fork
            db.execute(
                "INSERT INTO ledger SELECT 2, kind, at, actor, memo, previous, 'x' FROM ledger"
            )


def test_migrations_run_once_and_a_newer_database_is_refused(
    postgres_cluster: ThrowawayCluster,
) -> None:
    name = postgres_cluster.database()
    url = postgres_cluster.url(name)
    try:
        PostgresStore(url).close()  # the template's tables are there: nothing to run again
        with psycopg.connect(url, autocommit=True) as db:
            assert db.execute("SELECT version FROM schema_version").fetchall() == [
                (MIGRATIONS[-1][0],)
            ]
            db.execute("UPDATE schema_version SET version = version + 1")
        with pytest.raises(StoreUnavailable, match="newer than this witengine knows"):
            PostgresStore(url)
    finally:
        postgres_cluster.drop(name)


def test_an_empty_database_gets_every_table_in_one_migration(
    postgres_cluster: ThrowawayCluster,
) -> None:
    name = "wit_empty"
    with psycopg.connect(postgres_cluster.url("postgres"), autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        url = postgres_cluster.url(name)
        # Two hubs starting at once: the migration runs once, under its lock.
        together(2, lambda n: PostgresStore(url).close())
        store = PostgresStore(url)
        try:
            assert [p.name for p in store.list_pools()] == ["default"]
        finally:
            store.close()
    finally:
        postgres_cluster.drop(name)


def test_keys_sort_by_code_point_whatever_the_database_collation(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    try:
        for key in ("b", "B", "a-z", "a_z", "é"):
            store.board_write(BoardWrite(key, 1, "hub", 1.0), keep=2, max_keys=10)
        assert [e.key for e in store.board_list()] == sorted(["b", "B", "a-z", "a_z", "é"])
        assert [e.key for e in store.board_list("a")] == ["a-z", "a_z"]
    finally:
        store.close()


def test_the_pool_is_sized_by_the_url_and_its_options_go_no_further() -> None:
    url, sizes = split_url("postgresql:///wit?host=/tmp/x&pool_max=3&port=5&pool_min=2")
    assert (url, sizes) == ("postgresql:///wit?host=/tmp/x&port=5", {"pool_min": 2, "pool_max": 3})
    with pytest.raises(StoreUnavailable, match="pool_max='many'"):
        split_url("postgresql://h/db?pool_max=many")
    with pytest.raises(StoreUnavailable, match="pool_min=4 is above pool_max=2"):
        split_url("postgresql://h/db?pool_min=4&pool_max=2")
    assert shown_url("postgresql://wit:s3cret@db:5432/farm") == "postgresql://wit:***@db:5432/farm"


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(f"postgresql://wit:s3cret@/farm?host={tmp_path}&port=1", connect_timeout=2)
    assert "cannot open the PostgreSQL store at postgresql://wit:***@/farm" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_the_hub_opens_sqlite_by_default_and_postgresql_by_url(
    tmp_path: Path, postgres_url: str
) -> None:
    default = open_store(None, tmp_path)
    default.close()
    assert (tmp_path / "hub.sqlite3").exists()
    store: Any = open_store(postgres_url, tmp_path)
    try:
        assert isinstance(store, PostgresStore)
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="not a store this hub knows"):
        open_store("mysql://db/farm", tmp_path)


def test_every_sqlite_migration_has_its_postgresql_twin() -> None:
    """A change to the SQLite store's tables takes a PostgreSQL migration of the same number
    (postgres_schema.py), from the PostgreSQL store's first version on."""
    from witengine.hub.store.postgres_schema import BASELINE
    from witengine.hub.store.sqlite_schema import MIGRATIONS as SQLITE

    later = [version for version, _ in SQLITE if version > BASELINE]
    assert [version for version, _ in MIGRATIONS] == [BASELINE, *later], (
        "a SQLite migration has no PostgreSQL twin: add one with the same number to "
        "witengine.hub.store.postgres_schema.MIGRATIONS"
    )


def test_a_cluster_left_by_a_dead_test_run_is_swept_and_a_live_ones_kept() -> None:
    from witengine.testing.postgres import OWNER, binaries, sweep

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = Path(tempfile.mkdtemp(prefix="wit-pg-"))
    (dead / OWNER).write_text(f"{gone.pid}\n")
    live = Path(tempfile.mkdtemp(prefix="wit-pg-"))
    (live / OWNER).write_text(f"{os.getpid()}\n")
    try:
        sweep(binaries() or Path())
        assert not dead.exists() and live.exists()
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(dead, ignore_errors=True)
