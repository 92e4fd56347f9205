"""The SQLite store's accounts, signed requests and credit ledger (a part of `SqliteStore`).

The ledger's rules are the database's as well as the code's: `balances` refuses a balance below
zero for every account but `mint` (a CHECK constraint), transactions and entries cannot be
updated or deleted (triggers), and each post runs in one `BEGIN IMMEDIATE` transaction, so two
posts, from threads or processes, never both spend the same credits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

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


class ExchangeTables:
    """The exchange's part of the Store contract, over `SqliteStore`'s connection."""

    db: sqlite3.Connection
    lock: threading.Lock
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[Any]]

    # accounts
    def add_account(self, account: AccountRecord) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            return cursor.rowcount == 1

    def get_account(self, name: str) -> AccountRecord | None:
        rows = self._read("SELECT * FROM accounts WHERE name = ?", (name,))
        return AccountRecord(*rows[0]) if rows else None

    def list_accounts(self) -> list[AccountRecord]:
        return [AccountRecord(*row) for row in self._read("SELECT * FROM accounts ORDER BY name")]

    def approve_account(self, name: str, at: float, by: str | None) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE accounts SET state = 'active', approved_at = ?, approved_by = ? "
                "WHERE name = ? AND state = 'pending'",
                (at, by, name),
            )
            return cursor.rowcount == 1

    # signed requests
    def keep_signed(self, record: SignedRecord) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO signed_requests "
                "(account, nonce, timestamp, method, path, body, signature, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            return cursor.rowcount == 1

    def signed_requests(self, account: str | None = None) -> list[SignedRecord]:
        if account is None:
            rows = self._read(f"SELECT {SIGNED_COLUMNS} FROM signed_requests ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {SIGNED_COLUMNS} FROM signed_requests WHERE account = ? ORDER BY seq",
                (account,),
            )
        return [SignedRecord(*row) for row in rows]

    # the ledger
    def post(
        self, kind: str, entries: Sequence[Entry], *, at: float, actor: str, memo: str = ""
    ) -> LedgerTransaction:
        check_entries(entries)
        with self._write() as db:
            last = db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
            seq, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
            tx = LedgerTransaction.chained(previous, seq, kind, at, actor, memo, entries)
            db.execute(
                "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, kind, at, actor, memo, previous, tx.hash),
            )
            db.executemany(
                "INSERT INTO entries VALUES (?, ?, ?, ?)",
                [(seq, at_, e.account, e.amount) for at_, e in enumerate(entries)],
            )
            held = dict(
                db.execute(
                    "SELECT account, balance FROM balances WHERE account IN "
                    f"({', '.join('?' * len(entries))})",
                    [e.account for e in entries],
                ).fetchall()
            )
            try:
                # Not an upsert: SQLite checks the row an upsert would insert before it
                # finds the conflict, and a debit's row alone is below zero.
                for entry in entries:
                    if entry.account in held:
                        db.execute(
                            "UPDATE balances SET balance = balance + ? WHERE account = ?",
                            (entry.amount, entry.account),
                        )
                    else:
                        db.execute(
                            "INSERT INTO balances VALUES (?, ?)", (entry.account, entry.amount)
                        )
            except sqlite3.IntegrityError:  # the CHECK: an account would go below zero
                over = first_overdrawn(held, entries)
                account, balance, wanted = over if over else (entries[0].account, 0, 0)
                raise Overdrawn(account, balance, wanted) from None
        return tx

    def balance(self, account: str) -> int:
        rows = self._read("SELECT balance FROM balances WHERE account = ?", (account,))
        return int(rows[0][0]) if rows else 0

    def balances(self) -> dict[str, int]:
        return dict(self._read("SELECT account, balance FROM balances ORDER BY account"))

    def transactions(
        self, *, account: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LedgerTransaction]:
        with self.lock:
            if account is None:
                heads = self.db.execute(
                    "SELECT * FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
                ).fetchall()
            else:
                heads = self.db.execute(
                    "SELECT * FROM ledger WHERE seq IN (SELECT seq FROM entries WHERE "
                    "account = ? AND seq > ?) ORDER BY seq LIMIT ?",
                    (account, after, limit),
                ).fetchall()
            if not heads:
                return []
            # The entries of these transactions only: a statement's are far apart.
            seqs = [head[0] for head in heads]
            rows = []
            for start in range(0, len(seqs), 500):
                part = seqs[start : start + 500]
                rows += self.db.execute(
                    "SELECT seq, account, amount FROM entries WHERE seq IN "
                    f"({', '.join('?' * len(part))}) ORDER BY seq, position",
                    part,
                ).fetchall()
        entries: dict[int, list[Entry]] = {}
        for seq, name, amount in rows:
            entries.setdefault(seq, []).append(Entry(name, amount))
        return [
            LedgerTransaction(seq, kind, at, actor, memo, tuple(entries.get(seq, ())), prev, hash_)
            for seq, kind, at, actor, memo, prev, hash_ in heads
        ]
