"""Wire models of the exchange so far: accounts (`/api/v1/accounts`) and the credit ledger
(`/api/v1/ledger`). Amounts are integers of milli-credits (1 credit = 1000)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from witengine.protocol.base import Answer, Label, Model
from witengine.security.accounts import ACCOUNT_NAME_PATTERN

AccountName = Annotated[str, Field(pattern=ACCOUNT_NAME_PATTERN)]
# Milli-credits one request moves: above zero, at most a trillion credits.
Amount = Annotated[int, Field(ge=1, le=10**15)]
Memo = Annotated[Label, Field(max_length=200)]


class NewAccount(Model):
    """An account to register: its name and its public key (raw Ed25519, base64)."""

    name: AccountName
    public_key: Annotated[str, Field(min_length=44, max_length=44)]


class AccountInfo(Answer):
    name: str
    public_key: str
    fingerprint: str
    state: str  # pending or active
    created_at: float
    approved_at: float | None = None


class Grant(Model):
    amount: Amount
    memo: Memo = ""


class Transfer(Model):
    """A payment from the signing account to another."""

    to: AccountName
    amount: Amount
    memo: Memo = ""


class EntryLine(Answer):
    account: str
    amount: int


class TransactionLine(Answer):
    seq: int
    kind: str
    at: float
    actor: str
    memo: str
    entries: list[EntryLine]
    previous: str
    hash: str
    balance: int | None = None  # a statement's running balance of its account, after this one


class Balance(Answer):
    account: str
    balance: int  # milli-credits
    credits: str  # the same, as credits with three decimals
    unit: str = "millicredit"
    state: str = "active"


class LedgerVerdict(Answer):
    ok: bool
    transactions: int
    problem: str = ""
    bad_seq: int | None = None
    signed_requests: int = 0  # signed requests whose signatures were checked again


class SignedLine(Answer):
    """A signed request the hub took, whole: check it with the account's public key against
    the canonical text of `witengine.security.signing`."""

    account: str
    nonce: str
    timestamp: int
    method: str
    path: str
    body: str
    signature: str
    at: float
