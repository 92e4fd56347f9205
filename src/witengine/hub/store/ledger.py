"""The credit ledger's rules, the same for every store: what a transaction is, its hash in the
chain, and how the whole ledger is checked (`wit ledger verify`).

Double entry: a transaction is two or more entries (account, amount) whose amounts sum to zero;
amounts are integers of milli-credits (1 credit = 1000), never floats. Each transaction is
hash-chained to the one before it: its hash is the SHA-256 of the previous hash and of the
transaction in a canonical JSON form, so an edit of any stored row changes a hash that the
chain no longer matches. No account's balance may go below zero but `mint`'s, from which
grants come: the stores enforce it in their transactions (SQLite: a CHECK constraint).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from witengine.credits import MILLI as MILLI  # the ledger's amounts are these
from witengine.credits import credits as credits
from witengine.errors import WitError

MINT = "mint"  # grants come from here: the one account whose balance goes below zero
FEES = "exchange:fees"
GENESIS = "0" * 64  # the previous hash of the first transaction
MAX_AMOUNT = 10**15  # milli-credits one entry moves at most (a trillion credits)


class TransactionKind(StrEnum):
    GRANT = "grant"  # an admin mints credits into an account
    TRANSFER = "transfer"  # an account pays another (signed by the payer)
    RESERVE = "reserve"  # a buyer's credits held in escrow for a job
    SETTLE = "settle"  # escrow paid to a seller (and the exchange's fee)
    REFUND = "refund"  # escrow given back to the buyer


class Overdrawn(WitError):
    """A transaction would take an account below zero: refused, nothing written."""

    def __init__(self, account: str, balance: int, wanted: int) -> None:
        super().__init__(
            f"account {account!r} holds {credits(balance)} credits, and this needs "
            f"{credits(wanted)}: refused, nothing moved"
        )
        self.account = account


class Unbalanced(WitError):
    """A transaction's entries do not sum to zero, or are not entries at all."""


def escrow_account(job_id: str) -> str:
    return f"escrow:{job_id}"


def is_system(account: str) -> bool:
    """The ledger's own accounts: `mint`, and names with a colon (`exchange:fees`, `escrow:…`)."""
    return account == MINT or ":" in account


def may_go_negative(account: str) -> bool:
    return account == MINT


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int  # milli-credits: positive in, negative out


@dataclass(frozen=True)
class LedgerTransaction:
    """One movement as stored: numbered from 1, chained to the one before by `previous`."""

    seq: int
    kind: str  # a TransactionKind value
    at: float  # seconds since the epoch
    actor: str  # who moved it: "admin tok_…", "account NAME (signed NONCE)", "hub"
    memo: str
    entries: tuple[Entry, ...]
    previous: str  # the hash of transaction seq - 1 (GENESIS for the first)
    hash: str

    @classmethod
    def chained(
        cls,
        previous: str,
        seq: int,
        kind: str,
        at: float,
        actor: str,
        memo: str,
        entries: Sequence[Entry],
    ) -> LedgerTransaction:
        """The transaction numbered `seq` after the one whose hash is `previous`, hashed."""
        hashed = transaction_hash(previous, seq, kind, at, actor, memo, entries)
        return cls(seq, kind, at, actor, memo, tuple(entries), previous, hashed)


def check_entries(entries: Sequence[Entry]) -> None:
    """Unbalanced when the entries are not a balanced movement between two or more accounts."""
    if len(entries) < 2:
        raise Unbalanced("a transaction has at least two entries")
    if any(not isinstance(e.amount, int) or e.amount == 0 for e in entries):
        raise Unbalanced("every entry moves a whole, non-zero number of milli-credits")
    if any(abs(e.amount) > MAX_AMOUNT for e in entries):
        raise Unbalanced(f"an entry moves at most {credits(MAX_AMOUNT)} credits")
    if sum(e.amount for e in entries) != 0:
        raise Unbalanced("a transaction's entries sum to zero")
    if len({e.account for e in entries}) != len(entries):
        raise Unbalanced("an account appears once in a transaction")


def transaction_hash(
    previous: str, seq: int, kind: str, at: float, actor: str, memo: str, entries: Iterable[Entry]
) -> str:
    """The SHA-256 (hex) of the previous hash and the transaction in canonical form."""
    body = [seq, kind, at, actor, memo, [[e.account, e.amount] for e in entries]]
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


def first_overdrawn(
    balances: Mapping[str, int], entries: Iterable[Entry]
) -> tuple[str, int, int] | None:
    """(account, balance, amount wanted) of the first entry that would go below zero."""
    for entry in entries:
        after = balances.get(entry.account, 0) + entry.amount
        if after < 0 and not may_go_negative(entry.account):
            return entry.account, balances.get(entry.account, 0), -entry.amount
    return None


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: ok, or the first bad transaction (or account) and why."""

    ok: bool
    transactions: int
    problem: str = ""
    bad_seq: int | None = None


def _fault(
    tx: LedgerTransaction, count: int, previous: str, running: Mapping[str, int]
) -> str | None:
    """What is wrong with the `count`th transaction, chained after `previous`; None: nothing."""
    if tx.seq != count:
        return f"numbered {tx.seq} where {count} was expected (a transaction is missing)"
    if tx.previous != previous:
        return "its link to the transaction before does not match that one's hash"
    expected = transaction_hash(tx.previous, tx.seq, tx.kind, tx.at, tx.actor, tx.memo, tx.entries)
    if expected != tx.hash:
        return "its hash does not match its contents (a stored row was changed)"
    try:
        check_entries(tx.entries)
    except Unbalanced as error:
        return str(error)
    over = first_overdrawn(running, tx.entries)
    if over is not None:
        return f"it takes account {over[0]!r} below zero"
    return None


def verify(transactions: Iterable[LedgerTransaction], balances: Mapping[str, int]) -> Verdict:
    """Check the chain in order (each hash, each link, each balanced and never overdrawing)
    and the stored balances against those the entries add up to."""
    previous = GENESIS
    running: dict[str, int] = {}
    count = 0
    for tx in transactions:
        count += 1

        why = _fault(tx, count, previous, running)
        if why is not None:
            return Verdict(False, count, f"transaction {tx.seq}: {why}", tx.seq)
        for entry in tx.entries:
            running[entry.account] = running.get(entry.account, 0) + entry.amount
        previous = tx.hash
    for account in sorted(set(running) | set(balances)):
        if running.get(account, 0) != balances.get(account, 0):
            return Verdict(
                False,
                count,
                f"account {account!r}: its stored balance {credits(balances.get(account, 0))} "
                f"is not the {credits(running.get(account, 0))} its entries add up to",
            )
    return Verdict(True, count)
