"""The PostgreSQL store's accounts, signed requests and credit ledger (a part of `PostgresStore`).

The ledger's rules are the database's as well as the code's, as in SQLite: `balances` refuses a
balance below zero for every account but `mint` (a CHECK constraint), transactions, entries and
signed requests cannot be updated, deleted or truncated (triggers), and a transaction's link to
the one before is unique, so the hash chain cannot fork. Posts take a transaction-level advisory
lock, so two posts, from threads or from hub processes, never both spend the same credits and
are chained in the order they commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from witengine.hub.store.base import AccountRecord, SignedRecord
from witengine.hub.store.ledger import (
    GENESIS,
    Entry,
    LedgerTransaction,
    Overdrawn,
    check_entries,
    first_overdrawn,
)
from witengine.hub.store.rows import SIGNED_COLUMNS

LOCK_LEDGER = 1_770_004  # the advisory lock posts take (see postgres.py for the others)


class ExchangeTables:
    """The exchange's part of the Store contract, over `PostgresStore`'s pool."""

    pool: ConnectionPool[Any]
    _connection: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
    _write: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
    _read: Callable[..., list[Any]]

    # accounts
    def add_account(self, account: AccountRecord) -> bool:
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO accounts VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (
                    account.name,
                    account.public_key,
                    account.state,
                    account.created_at,
                    account.created_by,
                    account.approved_at,
                    account.approved_by,
                ),
            )
            return bool(cursor.rowcount == 1)

    def get_account(self, name: str) -> AccountRecord | None:
        rows = self._read("SELECT * FROM accounts WHERE name = %s", (name,))
        return AccountRecord(*rows[0]) if rows else None

    def list_accounts(self) -> list[AccountRecord]:
        return [AccountRecord(*row) for row in self._read("SELECT * FROM accounts ORDER BY name")]

    def approve_account(self, name: str, at: float, by: str | None) -> bool:
        with self._connection() as db:
            cursor = db.execute(
                "UPDATE accounts SET state = 'active', approved_at = %s, approved_by = %s "
                "WHERE name = %s AND state = 'pending'",
                (at, by, name),
            )
            return bool(cursor.rowcount == 1)

    # signed requests
    def keep_signed(self, record: SignedRecord) -> bool:
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO signed_requests "
                "(account, nonce, timestamp, method, path, body, signature, at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (account, nonce) DO NOTHING",
                (
                    record.account,
                    record.nonce,
                    record.timestamp,
                    record.method,
                    record.path,
                    record.body,
                    record.signature,
                    record.at,
                ),
            )
            return bool(cursor.rowcount == 1)

    def signed_requests(self, account: str | None = None) -> list[SignedRecord]:
        if account is None:
            rows = self._read(f"SELECT {SIGNED_COLUMNS} FROM signed_requests ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {SIGNED_COLUMNS} FROM signed_requests WHERE account = %s ORDER BY seq",
                (account,),
            )
        return [SignedRecord(*row) for row in rows]

    # the ledger
    def post(
        self, kind: str, entries: Sequence[Entry], *, at: float, actor: str, memo: str = ""
    ) -> LedgerTransaction:
        check_entries(entries)
        names = [e.account for e in entries]
        held: dict[str, int] = {}
        try:
            with self._write() as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_LEDGER,))
                last = db.execute(
                    "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
                tx = LedgerTransaction.chained(previous, seq, kind, at, actor, memo, entries)
                db.execute(
                    "INSERT INTO ledger VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (seq, kind, at, actor, memo, previous, tx.hash),
                )
                db.execute(
                    "INSERT INTO entries SELECT %s, p - 1, a, n FROM "
                    "unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS e(a, n, p)",
                    (seq, names, [e.amount for e in entries]),
                )
                held = dict(
                    db.execute(
                        "SELECT account, balance FROM balances WHERE account = ANY(%s) FOR UPDATE",
                        (names,),
                    ).fetchall()
                )
                # Not an upsert: PostgreSQL checks the row an upsert would insert before it
                # finds the conflict, and a debit's row alone is below zero.
                for entry in entries:
                    if entry.account in held:
                        db.execute(
                            "UPDATE balances SET balance = balance + %s WHERE account = %s",
                            (entry.amount, entry.account),
                        )
                    else:
                        db.execute(
                            "INSERT INTO balances VALUES (%s, %s)", (entry.account, entry.amount)
                        )
        except psycopg.errors.CheckViolation:  # an account would go below zero: rolled back
            over = first_overdrawn(held, entries)
            account, balance, wanted = over if over else (entries[0].account, 0, 0)
            raise Overdrawn(account, balance, wanted) from None
        return tx

    def balance(self, account: str) -> int:
        rows = self._read("SELECT balance FROM balances WHERE account = %s", (account,))
        return int(rows[0][0]) if rows else 0

    def balances(self) -> dict[str, int]:
        return dict(self._read("SELECT account, balance FROM balances ORDER BY account"))

    def transactions(
        self, *, account: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LedgerTransaction]:
        with self._connection() as db, db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if account is None:
                heads = db.execute(
                    "SELECT * FROM ledger WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit)
                ).fetchall()
            else:
                heads = db.execute(
                    "SELECT * FROM ledger WHERE seq IN (SELECT seq FROM entries WHERE "
                    "account = %s AND seq > %s) ORDER BY seq LIMIT %s",
                    (account, after, limit),
                ).fetchall()
            if not heads:
                return []
            rows = db.execute(
                "SELECT seq, account, amount FROM entries WHERE seq = ANY(%s) "
                "ORDER BY seq, position",
                ([head[0] for head in heads],),
            ).fetchall()
        entries: dict[int, list[Entry]] = {}
        for seq, name, amount in rows:
            entries.setdefault(seq, []).append(Entry(name, amount))
        return [
            LedgerTransaction(seq, kind, at, actor, memo, tuple(entries.get(seq, ())), prev, hash_)
            for seq, kind, at, actor, memo, prev, hash_ in heads
        ]
