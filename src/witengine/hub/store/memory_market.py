"""The memory store's asks, bids and trades (a part of `MemoryStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from witengine.hub.store.market import (
    AskRecord,
    BidRecord,
    MandateRecord,
    TradePhase,
    TradeRecord,
)


class MarketDicts:
    """The market's part of the Store contract, in dictionaries."""

    def __init__(self) -> None:
        self.asks: dict[str, AskRecord] = {}
        self.mandates: dict[str, MandateRecord] = {}
        self.bids: dict[str, BidRecord] = {}
        self.trades: dict[str, TradeRecord] = {}
        self.phases: dict[str, list[TradePhase]] = {}

    def add_ask(self, ask: AskRecord) -> None:
        self.asks[ask.id] = ask

    def remove_ask(self, ask_id: str) -> bool:
        return self.asks.pop(ask_id, None) is not None

    def list_asks(self, account: str | None = None) -> list[AskRecord]:
        return [a for a in self.asks.values() if account is None or a.account == account]

    def add_mandate(self, mandate: MandateRecord) -> None:
        self.mandates[mandate.id] = mandate

    def set_mandate_state(self, mandate_id: str, state: str) -> bool:
        found = self.mandates.get(mandate_id)
        if found is None:
            return False
        self.mandates[mandate_id] = replace(found, state=state)
        return True

    def remove_mandate(self, mandate_id: str) -> bool:
        return self.mandates.pop(mandate_id, None) is not None

    def list_mandates(self, account: str | None = None) -> list[MandateRecord]:
        return [m for m in self.mandates.values() if account is None or m.account == account]

    def spent_under(self, mandate_id: str, since: float) -> int:
        trades = self.trades.values()
        return sum(t.paid for t in trades if t.mandate == mandate_id and t.created_at >= since)

    def put_bid(self, bid: BidRecord) -> None:
        self.bids[bid.job_id] = bid

    def get_bid(self, job_id: str) -> BidRecord | None:
        return self.bids.get(job_id)

    def put_trade(self, trade: TradeRecord) -> None:
        self.trades[trade.id] = trade

    def add_phases(self, phases: Sequence[TradePhase]) -> None:
        for phase in phases:
            self.phases.setdefault(phase.trade_id, []).append(phase)

    def get_trade(self, trade_id: str) -> TradeRecord | None:
        return self.trades.get(trade_id)

    def list_trades(
        self, *, job_id: str | None = None, account: str | None = None, limit: int = 1000
    ) -> list[TradeRecord]:
        found = [
            t
            for t in reversed(self.trades.values())
            if (job_id is None or t.job_id == job_id)
            and (account is None or account in (t.seller, t.buyer))
        ]
        return found[:limit]

    def trade_phases(self, trade_id: str) -> list[TradePhase]:
        return list(self.phases.get(trade_id, []))
