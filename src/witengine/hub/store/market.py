"""The exchange's market as the store keeps it: asks (a seller's standing offers), mandates
(standing rules that sell or buy by themselves), bids (a job's price and deadline) and trades
(each batch given to a node under the exchange, with the phases it went through). Plain records
and the part of the store contract that holds them; `MemoryStore`, `SqliteStore` and
`PostgresStore` keep them (`MarketDicts`, `MarketTables`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AskRecord:
    """A seller's standing offer: its nodes run `activity` (an activity, or every activity of a
    plugin) for `price` milli-credits per work unit, within `hours` ("" always; "22-06": from
    22:00 to 06:00 hub time), for maps of at least `min_work` work units."""

    id: str
    account: str
    activity: str
    price: int
    hours: str
    min_work: float
    created_at: float
    nonce: str  # of the signed request that made it


@dataclass(frozen=True)
class BidRecord:
    """A job's bid: the most its buyer pays per work unit, and when it wants the job done
    (seconds since the epoch; None: no deadline)."""

    job_id: str
    account: str
    price: int
    deadline: float | None
    created_at: float
    nonce: str
    # A bid a buyer's mandate gave a job submitted without one: `MANDATED` as the job's, the
    # covering mandate's id in each map's bid (its price the mandate's); "": the buyer's own.
    mandate: str = ""
    priority: int = 0  # the job's, among its account's jobs: higher first


MANDATED = "mandated"  # a job's bid that its account's buy mandates give each map
MANDATE_PREFIX = "man_"  # a mandate's id starts with it (an ask's with "ask_")


class MandateSide(StrEnum):
    SELL = "sell"
    BUY = "buy"


class MandateState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True)
class MandateRecord:
    """A standing rule of an account, signed by its key. A seller's (`sell`) keeps an ask in
    force for the account's nodes (or the one named `node`): `activity` (an activity or a
    plugin) at `price` milli-credits a work unit, within `hours`. A buyer's (`buy`) gives the
    account's jobs submitted without a bid a bid of `price` for the maps of `activity` (an
    activity, a plugin, or "" for any), and stops giving them work once `daily` milli-credits
    (0: no limit) were spent under it in a UTC day."""

    id: str
    account: str
    side: str
    activity: str
    price: int
    hours: str
    node: str
    daily: int
    state: str
    created_at: float
    nonce: str  # of the signed request that made it


class TradeState(StrEnum):
    OPEN = "open"  # the batch is out on the node
    SETTLED = "settled"  # every item of it was paid, refunded or given back
    REJECTED = "rejected"  # verification found a result of it wrong: nothing paid for those


@dataclass(frozen=True)
class TradeRecord:
    """A batch given to a node under the exchange: who sold it to whom, at what price."""

    id: str  # the batch's id
    job_id: str
    map_id: str
    node_id: str
    node_name: str
    seller: str
    buyer: str
    activity: str
    price: int  # milli-credits per work unit: the seller's ask
    bid: int
    items: int
    work: float  # work units of its items
    accepted: int = 0
    rejected: int = 0
    paid: int = 0  # milli-credits settled to the seller
    state: str = TradeState.OPEN.value
    created_at: float = 0.0
    updated_at: float = 0.0
    ask_id: str = ""  # the ask it was matched at (or the seller's mandate)
    mandate: str = ""  # the buyer's mandate that bid for it; "": the job's own bid


@dataclass(frozen=True)
class TradePhase:
    """One step of a trade: matched, assigned, input transferred, started, results uploaded,
    verified, accepted, rejected, settled (some more than once: a batch's results are
    accepted and settled as they come)."""

    trade_id: str
    phase: str
    at: float
    detail: str = ""


@runtime_checkable
class MarketStore(Protocol):
    """The market's part of a store."""

    def add_ask(self, ask: AskRecord) -> None: ...

    def remove_ask(self, ask_id: str) -> bool:
        """False when there is no such ask."""
        ...

    def list_asks(self, account: str | None = None) -> list[AskRecord]:
        """Asks in the order they were made (price-time priority breaks ties by it)."""
        ...

    def add_mandate(self, mandate: MandateRecord) -> None: ...

    def set_mandate_state(self, mandate_id: str, state: str) -> bool:
        """False when there is no such mandate."""
        ...

    def remove_mandate(self, mandate_id: str) -> bool:
        """False when there is no such mandate."""
        ...

    def list_mandates(self, account: str | None = None) -> list[MandateRecord]:
        """Mandates in the order they were made."""
        ...

    def spent_under(self, mandate_id: str, since: float) -> int:
        """Milli-credits paid for the trades a buyer's mandate bid for, made since `since`."""
        ...

    def put_bid(self, bid: BidRecord) -> None: ...

    def get_bid(self, job_id: str) -> BidRecord | None: ...

    def put_trade(self, trade: TradeRecord) -> None:
        """Add a trade, or replace its counters and state."""
        ...

    def add_phases(self, phases: Sequence[TradePhase]) -> None: ...

    def get_trade(self, trade_id: str) -> TradeRecord | None: ...

    def list_trades(
        self, *, job_id: str | None = None, account: str | None = None, limit: int = 1000
    ) -> list[TradeRecord]:
        """Trades, newest first; `account`: those it sold or bought."""
        ...

    def trade_phases(self, trade_id: str) -> list[TradePhase]:
        """A trade's phases in the order they happened."""
        ...
