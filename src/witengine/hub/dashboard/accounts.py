"""What the dashboard's exchange pages show: the accounts, and one account's statement.

Plain data for the templates, read from the store's ledger (`witengine.hub.exchange.ledger`);
it moves nothing: a grant goes through the JSON API like every other action of the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from witengine.hub.exchange.ledger import statement
from witengine.hub.store.base import AccountRecord, Store
from witengine.hub.store.ledger import LedgerTransaction
from witengine.security.node_keys import key_fingerprint

SHOWN_LINES = 500  # the newest lines of a statement the page shows


@dataclass(frozen=True)
class AccountRow:
    name: str
    state: str  # active or pending
    fingerprint: str
    balance: int  # milli-credits
    created_at: float
    approved_at: float | None


@dataclass(frozen=True)
class StatementLine:
    """One transaction as an account's statement shows it."""

    seq: int
    kind: str
    at: float
    actor: str
    memo: str
    amount: int  # this account's entry: positive in, negative out
    balance: int  # the account's balance after it
    others: tuple[tuple[str, int], ...]  # the other entries: (account, amount)
    hash: str
    previous: str


@dataclass(frozen=True)
class AccountPage:
    account: AccountRow
    lines: list[StatementLine]  # newest first, at most SHOWN_LINES
    count: int  # every line of the statement


def account_row(record: AccountRecord, balance: int) -> AccountRow:
    return AccountRow(
        record.name,
        record.state,
        key_fingerprint(record.public_key),
        balance,
        record.created_at,
        record.approved_at,
    )


def account_rows(store: Store) -> list[AccountRow]:
    """Every account, by name, with its balance."""
    balances = store.balances()
    return [account_row(a, balances.get(a.name, 0)) for a in store.list_accounts()]


def statement_line(account: str, tx: LedgerTransaction, balance: int) -> StatementLine:
    mine = sum(e.amount for e in tx.entries if e.account == account)
    others = tuple((e.account, e.amount) for e in tx.entries if e.account != account)
    return StatementLine(
        tx.seq, tx.kind, tx.at, tx.actor, tx.memo, mine, balance, others, tx.hash, tx.previous
    )


def account_page(store: Store, name: str) -> AccountPage | None:
    """An account and its statement; None when there is no such account."""
    record = store.get_account(name)
    if record is None:
        return None
    found = statement(store, name)
    lines = [statement_line(name, tx, balance) for tx, balance in reversed(found[-SHOWN_LINES:])]
    return AccountPage(account_row(record, store.balance(name)), lines, len(found))
