"""Wire models of the exchange so far: accounts (`/api/v1/accounts`) and the credit ledger
(`/api/v1/ledger`). Amounts are integers of milli-credits (1 credit = 1000)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

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


# ------------------------------------------------------------------ the market

# Milli-credits a work unit: zero (free) up to a billion credits.
Price = Annotated[int, Field(ge=0, le=10**12)]
# An ask's hours: "22-06", "08:30-17:30" (hub's local time; past midnight wraps); "": always.
Hours = Annotated[
    str, Field(pattern=r"^$|^([01]?\d|2[0-3])(:[0-5]\d)?-([01]?\d|2[0-3])(:[0-5]\d)?$")
]


class NewAsk(Model):
    """A seller's standing offer, signed by its account: its nodes run `activity` (an activity
    such as `Compute.Work`, or a plugin's name for all of its activities) for `price`
    milli-credits a work unit."""

    activity: Annotated[Label, Field(min_length=1, max_length=200)]
    price: Price
    hours: Hours = ""
    min_work: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 0.0


class AskInfo(Answer):
    id: str
    account: str
    activity: str
    price: int
    hours: str = ""
    min_work: float = 0.0
    created_at: float
    nonce: str = ""


class NewMandate(Model):
    """A standing rule of the signing account. `sell`: keep an ask in force for the account's
    nodes (or only the node named `node`) for `activity` (an activity or a plugin) at `price`
    milli-credits a work unit, within `hours`. `buy`: give the account's jobs submitted without
    a bid a bid of `price` for their maps of `activity` (an activity, a plugin; "" any), and
    spend at most `daily` milli-credits a UTC day under it (0: no limit)."""

    side: Literal["sell", "buy"]
    activity: Annotated[Label, Field(max_length=200)] = ""
    price: Price
    hours: Hours = ""
    node: Annotated[Label, Field(max_length=200)] = ""
    daily: Annotated[int, Field(ge=0, le=10**15)] = 0

    @model_validator(mode="after")
    def _fits_its_side(self) -> NewMandate:
        if self.side == "sell":
            if not self.activity:
                raise ValueError("a sell mandate names the activity or plugin it sells")
            if self.daily:
                raise ValueError("daily is a buy mandate's limit; a sell mandate has none")
        else:
            if self.hours:
                raise ValueError("hours are a sell mandate's; a buy mandate buys at any hour")
            if self.node:
                raise ValueError("node is a sell mandate's; a buy mandate buys on any node")
        return self


class MandateInfo(Answer):
    id: str
    account: str
    side: str
    activity: str = ""
    price: int
    hours: str = ""
    node: str = ""
    daily: int = 0
    state: str  # active or paused
    created_at: float
    nonce: str = ""
    spent_today: int | None = None  # a buy mandate's: paid (or out) under it today, UTC


class Bid(Model):
    """A job's bid on the exchange: the most its account pays a work unit (milli-credits) and
    when it wants the work done (seconds since the epoch; None: no deadline)."""

    price: Price
    deadline: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class TradePhaseLine(Answer):
    phase: str
    at: float
    detail: str = ""


class TradeInfo(Answer):
    id: str
    job_id: str
    map_id: str
    node_id: str
    node_name: str
    seller: str
    buyer: str
    activity: str
    price: int  # milli-credits a work unit: the seller's ask
    bid: int
    items: int
    work: float
    accepted: int = 0
    rejected: int = 0
    paid: int = 0
    state: str
    created_at: float
    updated_at: float
    ask_id: str = ""
    mandate: str = ""  # the buyer's mandate that bid for it, if one did


class TradeDetail(TradeInfo):
    phases: list[TradePhaseLine] = []
    # The signed requests behind it: the buyer's job submission with its bid, and the
    # seller's ask, as kept whole (check them with the accounts' public keys).
    signed: list[SignedLine] = []
