"""The exchange's market as the store keeps it: asks (a seller's standing offers), bids (a
job's price and deadline) and trades (each batch given to a node under the exchange, with the
phases it went through). Plain records and the part of the store contract that holds them;
`MemoryStore` and `SqliteStore` keep them (`MarketDicts`, `MarketTables`)."""

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
    ask_id: str = ""  # the ask it was matched at


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
