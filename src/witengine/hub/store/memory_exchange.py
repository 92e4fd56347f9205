"""The memory store's accounts, signed requests and credit ledger (a part of `MemoryStore`),
holding to the same rules as SQLite's tables: a post is checked whole before anything changes
(no balance below zero but the mint's), under one lock, so two threads never both spend the
same credits."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from witengine.hub.store.base import AccountRecord, SignedRecord
from witengine.hub.store.ledger import (
    GENESIS,
    Entry,
    LedgerTransaction,
    Overdrawn,
    check_entries,
    first_overdrawn,
)


class ExchangeDicts:
    """The exchange's part of the Store contract, in dictionaries."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountRecord] = {}
        self.signed: list[SignedRecord] = []
        self.nonces: set[tuple[str, str]] = set()
        self.ledger: list[LedgerTransaction] = []
        self.balance_of: dict[str, int] = {}
        self.ledger_lock = threading.Lock()

    def add_account(self, account: AccountRecord) -> bool:
        with self.ledger_lock:
            if account.name in self.accounts:
                return False
            self.accounts[account.name] = account
            return True

    def get_account(self, name: str) -> AccountRecord | None:
        return self.accounts.get(name)

    def list_accounts(self) -> list[AccountRecord]:
        return [self.accounts[name] for name in sorted(self.accounts)]

    def approve_account(self, name: str, at: float, by: str | None) -> bool:
        with self.ledger_lock:
            found = self.accounts.get(name)
            if found is None or found.state != "pending":
                return False
            self.accounts[name] = replace(found, state="active", approved_at=at, approved_by=by)
            return True

    def keep_signed(self, record: SignedRecord) -> bool:
        with self.ledger_lock:
            if (record.account, record.nonce) in self.nonces:
                return False
            self.nonces.add((record.account, record.nonce))
            self.signed.append(record)
            return True

    def signed_requests(self, account: str | None = None) -> list[SignedRecord]:
        return [r for r in self.signed if account is None or r.account == account]

    def post(
        self, kind: str, entries: Sequence[Entry], *, at: float, actor: str, memo: str = ""
    ) -> LedgerTransaction:
        check_entries(entries)
        with self.ledger_lock:
            over = first_overdrawn(self.balance_of, entries)
            if over is not None:
                raise Overdrawn(*over)
            previous = self.ledger[-1].hash if self.ledger else GENESIS
            seq = len(self.ledger) + 1
            tx = LedgerTransaction.chained(previous, seq, kind, at, actor, memo, entries)
            self.ledger.append(tx)
            for entry in entries:
                self.balance_of[entry.account] = (
                    self.balance_of.get(entry.account, 0) + entry.amount
                )
            return tx

    def balance(self, account: str) -> int:
        return self.balance_of.get(account, 0)

    def balances(self) -> dict[str, int]:
        return dict(sorted(self.balance_of.items()))

    def transactions(
        self, *, account: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[LedgerTransaction]:
        found = [
            tx
            for tx in self.ledger[after:]
            if account is None or any(e.account == account for e in tx.entries)
        ]
        return found[:limit]
