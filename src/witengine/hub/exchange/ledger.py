"""`Ledger`: the operations that move credits, over the store's double-entry ledger.

Grants (an admin mints credits), transfers (an account pays another), and the escrow the
exchange will trade with: `reserve` holds a buyer's credits for a job, `settle` pays a seller
(and the exchange's fee) from it, `refund` gives the rest back. Every operation is one store
transaction; the store refuses any that would take a balance below zero.
"""

from __future__ import annotations

from collections.abc import Callable

from witengine.errors import WitError
from witengine.hub.store.base import Store
from witengine.hub.store.ledger import (
    FEES,
    MINT,
    Entry,
    LedgerTransaction,
    TransactionKind,
    Unbalanced,
    Verdict,
    escrow_account,
    is_system,
    verify,
)


class UnknownAccount(WitError):
    """A movement names an account the hub does not know, or one not approved yet."""


class Ledger:
    def __init__(self, store: Store, wall: Callable[[], float]) -> None:
        self.store = store
        self.wall = wall

    def _known(self, name: str, *, person: bool = False) -> str:
        if is_system(name) and person:
            raise UnknownAccount(
                f"{name!r} is one of the ledger's own accounts: grants and transfers are "
                "between people's accounts"
            )
        if is_system(name):
            return name
        account = self.store.get_account(name)
        if account is None:
            raise UnknownAccount(f"no account named {name!r}: make it with wit account create")
        if account.state != "active":
            raise UnknownAccount(
                f"account {name!r} is waiting for an admin's approval (wit account approve {name})"
            )
        return name

    def _post(
        self, kind: TransactionKind, entries: list[Entry], actor: str, memo: str
    ) -> LedgerTransaction:
        for entry in entries:
            self._known(entry.account)
        if any(entry.amount == 0 for entry in entries):
            raise Unbalanced("an amount must be more than zero")
        return self.store.post(kind.value, entries, at=self.wall(), actor=actor, memo=memo)

    def grant(self, account: str, amount: int, *, actor: str, memo: str = "") -> LedgerTransaction:
        """Mint `amount` milli-credits into an account."""
        _positive(amount)
        self._known(account, person=True)
        entries = [Entry(MINT, -amount), Entry(account, amount)]
        return self._post(TransactionKind.GRANT, entries, actor, memo)

    def transfer(
        self, payer: str, payee: str, amount: int, *, actor: str, memo: str = ""
    ) -> LedgerTransaction:
        _positive(amount)
        if payer == payee:
            raise Unbalanced("an account cannot pay itself")
        self._known(payer, person=True)
        self._known(payee, person=True)
        entries = [Entry(payer, -amount), Entry(payee, amount)]
        return self._post(TransactionKind.TRANSFER, entries, actor, memo)

    def reserve(
        self, buyer: str, job_id: str, amount: int, *, actor: str = "hub"
    ) -> LedgerTransaction:
        """Hold a buyer's credits in the job's escrow."""
        _positive(amount)
        entries = [Entry(buyer, -amount), Entry(escrow_account(job_id), amount)]
        return self._post(TransactionKind.RESERVE, entries, actor, f"job {job_id}")

    def settle(
        self, job_id: str, seller: str, amount: int, *, fee: int = 0, actor: str = "hub"
    ) -> LedgerTransaction:
        """Pay a seller `amount` and the exchange `fee` from the job's escrow."""
        _positive(amount)
        if fee < 0:
            raise Unbalanced("a fee is never below zero")
        entries = [Entry(escrow_account(job_id), -(amount + fee)), Entry(seller, amount)]
        if fee:
            entries.append(Entry(FEES, fee))
        return self._post(TransactionKind.SETTLE, entries, actor, f"job {job_id}")

    def refund(
        self, job_id: str, buyer: str, amount: int, *, actor: str = "hub"
    ) -> LedgerTransaction:
        """Give a buyer back `amount` of the job's escrow."""
        _positive(amount)
        entries = [Entry(escrow_account(job_id), -amount), Entry(buyer, amount)]
        return self._post(TransactionKind.REFUND, entries, actor, f"job {job_id}")

    def verify(self) -> Verdict:
        """Check the whole chain and every balance (see `store.ledger.verify`)."""
        return verify(_every(self.store), self.store.balances())


def _positive(amount: int) -> None:
    if not isinstance(amount, int) or amount <= 0:
        raise Unbalanced(f"an amount is a whole number of milli-credits above zero, not {amount}")


def _every(store: Store, page: int = 1000) -> list[LedgerTransaction]:
    found: list[LedgerTransaction] = []
    while True:
        more = store.transactions(after=found[-1].seq if found else 0, limit=page)
        found.extend(more)
        if len(more) < page:
            return found


def statement(store: Store, account: str) -> list[tuple[LedgerTransaction, int]]:
    """An account's transactions in order, each with the account's balance after it."""
    running = 0
    lines = []
    for tx in store.transactions(account=account, limit=10**9):
        running += sum(e.amount for e in tx.entries if e.account == account)
        lines.append((tx, running))
    return lines
