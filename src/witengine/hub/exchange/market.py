"""`Market`: the exchange's asks, mandates, bids, escrow and trades, as the dispatcher uses them.

It keeps the sellers' asks (standing offers, per account), the accounts' mandates and the jobs'
bids in memory, written through to the store; says at what price a node's owner sells an
activity now (the cheapest of its asks and active sell mandates that covers the activity or its
plugin, its hours, the node and the map's size); which buy mandate bids for a map of a job
submitted without a bid, and what it spent today;
moves a paid job's credits through the ledger (reserve at the bid as a map opens, settle each
accepted result to its seller at the trade's price, refund the rest); and records every trade
and its phases. It decides nothing about who gets work: that is `scheduling.market`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from witengine.errors import WitError
from witengine.hub.exchange.fees import split
from witengine.hub.exchange.ledger import Ledger
from witengine.hub.store.base import Store
from witengine.hub.store.ledger import credits, escrow_account
from witengine.hub.store.market import (
    MANDATE_PREFIX,
    MANDATED,
    AskRecord,
    BidRecord,
    MandateRecord,
    MandateSide,
    MandateState,
    MarketStore,
    TradePhase,
    TradeRecord,
    TradeState,
)
from witengine.scheduling.fairshare import Usage
from witengine.scheduling.market import cost

log = logging.getLogger(__name__)


class Unaffordable(WitError):
    """A paid job's account holds too little to reserve what its map may cost at its bid."""


def in_hours(hours: str, seconds_of_day: float) -> bool:
    """Whether a time of day (seconds since midnight) is within `hours` ("" always, "22-06",
    "08:30-17:00"; a window past midnight wraps)."""
    if not hours:
        return True
    start_text, _, end_text = hours.partition("-")
    start, end = _clock_seconds(start_text), _clock_seconds(end_text)
    if start <= end:
        return start <= seconds_of_day < end
    return seconds_of_day >= start or seconds_of_day < end


def _clock_seconds(text: str) -> int:
    hour, _, minute = text.partition(":")
    return int(hour) * 3600 + int(minute or 0) * 60


DAY = 86_400.0


def utc_day_start(wall: float) -> float:
    """The start (seconds since the epoch) of the UTC day holding `wall`."""
    return wall - wall % DAY


def local_seconds_of_day(wall: float) -> float:
    moment = time.localtime(wall)
    return moment.tm_hour * 3600 + moment.tm_min * 60 + moment.tm_sec


class MarketStoreMissing(WitError):
    """The hub's store keeps no asks, bids or trades."""


def market_store(store: Store) -> MarketStore:
    if not isinstance(store, MarketStore):
        raise MarketStoreMissing(f"the hub's store ({type(store).__name__}) keeps no trades")
    return store


class Market:
    def __init__(self, store: Store, wall: Callable[[], float], *, fee: int = 0) -> None:
        self.store = store
        self.fee = fee  # basis points of each settlement paid to exchange:fees (fees.py)
        self.book = market_store(store)
        self.wall = wall
        self.ledger = Ledger(store, wall)
        self._asks: dict[str, list[AskRecord]] = {}
        for ask in self.book.list_asks():
            self._asks.setdefault(ask.account, []).append(ask)
        self._mandates: dict[str, MandateRecord] = {m.id: m for m in self.book.list_mandates()}
        # What each buyer's mandate paid today: (mandate, the UTC day's start) -> milli-credits,
        # read from the trades once a day and counted up as trades settle.
        self._spent: dict[tuple[str, float], int] = {}
        # Each buyer's recent usage (work units given to its paid maps, decaying): fair share.
        self.usage = Usage()
        self._bids: dict[str, BidRecord | None] = {}
        # Trades of running jobs, by batch id, and the phases each has been through: a batch's
        # results may be accepted (verified) and paid after the node is done with it.
        self._trades: dict[str, TradeRecord] = {}
        self._phases: dict[str, set[str]] = {}
        self._of_job: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ asks

    def add_ask(
        self,
        account: str,
        activity: str,
        price: int,
        *,
        hours: str = "",
        min_work: float = 0.0,
        nonce: str = "",
    ) -> AskRecord:
        ask = AskRecord(
            f"ask_{uuid.uuid4().hex[:12]}",
            account,
            activity,
            price,
            hours,
            min_work,
            self.wall(),
            nonce,
        )
        self.book.add_ask(ask)
        self._asks.setdefault(account, []).append(ask)
        return ask

    def remove_ask(self, ask_id: str) -> bool:
        if not self.book.remove_ask(ask_id):
            return False
        for account, asks in self._asks.items():
            self._asks[account] = [a for a in asks if a.id != ask_id]
        return True

    def asks(self, account: str | None = None) -> list[AskRecord]:
        return self.book.list_asks(account)

    def ask_for(
        self, account: str, activity: str, plugin: str, map_work: float, node: str = ""
    ) -> AskRecord | None:
        """The account's cheapest ask (the older at one price) that covers the activity (by
        name, or its plugin's), the hour it is now and a map of `map_work` units, among its
        asks and its active sell mandates (those of node `node`, or of all its nodes, as an
        ask whose id is the mandate's); None: none."""
        if not account:
            return None
        now = local_seconds_of_day(self.wall())
        best: AskRecord | None = None
        for ask in self._standing(account, node):
            if ask.activity not in (activity, plugin) or map_work < ask.min_work:
                continue
            if not in_hours(ask.hours, now):
                continue
            if best is None or (ask.price, ask.created_at) < (best.price, best.created_at):
                best = ask
        return best

    def _standing(self, account: str, node: str) -> list[AskRecord]:
        asks = list(self._asks.get(account, ()))
        for mandate in self._mandates.values():
            if (
                mandate.account == account
                and mandate.side == MandateSide.SELL
                and mandate.state == MandateState.ACTIVE
                and mandate.node in ("", node)
            ):
                asks.append(
                    AskRecord(
                        mandate.id,
                        account,
                        mandate.activity,
                        mandate.price,
                        mandate.hours,
                        0.0,
                        mandate.created_at,
                        mandate.nonce,
                    )
                )
        return asks

    # -------------------------------------------------------------- mandates

    def add_mandate(
        self,
        account: str,
        side: MandateSide,
        activity: str,
        price: int,
        *,
        hours: str = "",
        node: str = "",
        daily: int = 0,
        nonce: str = "",
    ) -> MandateRecord:
        mandate = MandateRecord(
            f"{MANDATE_PREFIX}{uuid.uuid4().hex[:12]}",
            account,
            side.value,
            activity,
            price,
            hours,
            node,
            daily,
            MandateState.ACTIVE.value,
            self.wall(),
            nonce,
        )
        self.book.add_mandate(mandate)
        self._mandates[mandate.id] = mandate
        return mandate

    def mandates(self, account: str | None = None) -> list[MandateRecord]:
        return self.book.list_mandates(account)

    def mandate(self, mandate_id: str) -> MandateRecord | None:
        return self._mandates.get(mandate_id)

    def set_mandate_state(self, mandate_id: str, state: MandateState) -> bool:
        found = self._mandates.get(mandate_id)
        if found is None or not self.book.set_mandate_state(mandate_id, state.value):
            return False
        self._mandates[mandate_id] = replace(found, state=state.value)
        return True

    def remove_mandate(self, mandate_id: str) -> bool:
        if not self.book.remove_mandate(mandate_id):
            return False
        self._mandates.pop(mandate_id, None)
        return True

    def buys(self, account: str) -> bool:
        """Whether the account has a buy mandate (active or paused)."""
        return any(
            m.account == account and m.side == MandateSide.BUY for m in self._mandates.values()
        )

    def buy_mandate_for(self, account: str, activity: str, plugin: str) -> MandateRecord | None:
        """The account's buy mandate that bids for a map of `activity`: one naming the activity,
        else one naming its plugin, else one for any activity; the older first. Paused ones
        count (the map then waits): pausing stops the buying, not the rule."""
        ranked = []
        for mandate in self._mandates.values():
            if mandate.account != account or mandate.side != MandateSide.BUY:
                continue
            order = {activity: 0, plugin: 1, "": 2}.get(mandate.activity)
            if order is not None:
                ranked.append((order, mandate.created_at, mandate.id, mandate))
        return min(ranked)[3] if ranked else None

    def spent_today(self, mandate_id: str) -> int:
        """What the buyer's mandate paid for trades made today (UTC), and what the batches out
        under it now may still cost: the day's budget counts both."""
        day = utc_day_start(self.wall())
        key = (mandate_id, day)
        if key not in self._spent:
            for old in [k for k in self._spent if k[0] == mandate_id]:
                del self._spent[old]
            self._spent[key] = self.book.spent_under(mandate_id, day)
        out = 0
        for trade in self._trades.values():
            if trade.mandate == mandate_id and trade.state == TradeState.OPEN:
                left = trade.items - trade.accepted - trade.rejected
                share = left / trade.items if trade.items else 0.0
                out += cost(trade.price, trade.work * share)
        return self._spent[key] + out

    # ------------------------------------------------------------------ bids

    def place_bid(
        self,
        job_id: str,
        account: str,
        price: int,
        deadline: float | None,
        nonce: str,
        mandate: str = "",
        priority: int = 0,
    ) -> BidRecord:
        bid = BidRecord(job_id, account, price, deadline, self.wall(), nonce, mandate, priority)
        self.book.put_bid(bid)
        self._bids[job_id] = bid
        return bid

    def place_mandated(self, job_id: str, account: str, nonce: str, priority: int = 0) -> BidRecord:
        """The bid of a job its account submitted without one, under its buy mandates: each
        map takes the price of the mandate that covers it (`buy_mandate_for`)."""
        return self.place_bid(job_id, account, 0, None, nonce, MANDATED, priority)

    def bid(self, job_id: str) -> BidRecord | None:
        if job_id not in self._bids:
            self._bids[job_id] = self.book.get_bid(job_id)
        return self._bids[job_id]

    # ---------------------------------------------------------------- escrow

    def reserve(self, bid: BidRecord, amount: int, what: str) -> None:
        """Hold `amount` of the buyer's credits for the job; Unaffordable when it lacks them."""
        if amount <= 0:
            return
        held = self.store.balance(bid.account)
        if held < amount:
            raise Unaffordable(
                f"account {bid.account!r} holds {credits(held)} credits, and {what} may cost "
                f"up to {credits(amount)} at its bid of {credits(bid.price)} a work unit"
            )
        self.ledger.reserve(bid.account, bid.job_id, amount)

    def settle(self, trade_id: str, items: int, amount: int) -> None:
        """Pay the trade's seller `amount` for `items` accepted results of it."""
        trade = self._trades.get(trade_id)
        if trade is None:
            return
        detail = f"{items} result(s) accepted"
        self.phase(trade_id, "accepted", detail)
        seq, fee = None, 0
        if amount > 0:
            earned, fee = split(amount, self.fee)
            tx = self.ledger.settle(trade.job_id, trade.seller, earned, fee=fee)
            seq = tx.seq
            key = (trade.mandate, utc_day_start(trade.created_at))
            if trade.mandate and key in self._spent:
                self._spent[key] += amount
        trade = replace(
            trade, accepted=trade.accepted + items, paid=trade.paid + amount, updated_at=self.wall()
        )
        self._keep(trade)
        paid = f"{credits(amount - fee)} credits to {trade.seller}"
        paid += f", {credits(fee)} to the exchange's fee" if fee else ""
        self.phase(trade_id, "settled", paid + (f" (transaction {seq})" if seq else ""))

    def refund(self, job_id: str, buyer: str, amount: int, why: str) -> None:
        if amount <= 0:
            return
        held = self.store.balance(escrow_account(job_id))
        amount = min(amount, held)
        if amount > 0:
            self.ledger.refund(job_id, buyer, amount)
            log.info("refunded %s credits of job %s to %s: %s", credits(amount), job_id, buyer, why)

    def job_ended(self, job_id: str) -> None:
        """Close the job's trades still open, and give the buyer back whatever the job's escrow
        still holds."""
        bid = self.bid(job_id)
        self._bids.pop(job_id, None)  # a job without a bid is remembered as such till here
        if bid is None:
            return
        for trade_id in self._of_job.get(job_id, []):
            self.close_trade(trade_id, "the job ended")
        self.refund(job_id, bid.account, self.store.balance(escrow_account(job_id)), "job ended")
        for trade_id in self._of_job.pop(job_id, []):
            self._trades.pop(trade_id, None)
            self._phases.pop(trade_id, None)

    # ---------------------------------------------------------------- trades

    def open_trade(self, trade: TradeRecord) -> None:
        self._trades[trade.id] = trade
        self._phases[trade.id] = set()
        self._of_job.setdefault(trade.job_id, []).append(trade.id)
        self.book.put_trade(trade)

    def trade(self, trade_id: str) -> TradeRecord | None:
        return self._trades.get(trade_id)

    def phase(self, trade_id: str, phase: str, detail: str = "", *, once: bool = False) -> None:
        """Note a phase of an open trade (`once`: unless noted already)."""
        seen = self._phases.get(trade_id)
        if seen is None or (once and phase in seen):
            return
        seen.add(phase)
        self.book.add_phases([TradePhase(trade_id, phase, self.wall(), detail)])

    def rejected(self, trade_id: str, items: int, why: str) -> None:
        trade = self._trades.get(trade_id)
        if trade is None:
            return
        self.phase(trade_id, "rejected", why)
        self._keep(
            replace(
                trade,
                rejected=trade.rejected + items,
                state=TradeState.REJECTED.value,
                updated_at=self.wall(),
            )
        )

    def close_trade(self, trade_id: str, detail: str) -> None:
        """The batch is no longer out: its trade is settled (what was not paid is refunded
        with the map's remainder)."""
        trade = self._trades.get(trade_id)
        if trade is None or "closed" in self._phases[trade_id]:
            return
        state = trade.state if trade.state == TradeState.REJECTED.value else TradeState.SETTLED
        self._keep(replace(trade, state=str(state), updated_at=self.wall()))
        self.phase(trade_id, "closed", detail)

    def _keep(self, trade: TradeRecord) -> None:
        if trade.id in self._trades:
            self._trades[trade.id] = trade
        self.book.put_trade(trade)
