"""Paid maps: the dispatcher's side of the exchange.

A job submitted with a bid has its maps traded: as a map opens, its estimated cost at the bid
is reserved from the buyer's account (escrow); only nodes whose owner's ask is at or below the
bid may be given its work, chosen by `scheduling.market.match` (cheapest first while the
deadline allows, fastest first when it does not) and chosen again every tick, as work and time
go; each batch given under the exchange is a trade at the seller's ask, whose phases the
`Market` records; each result accepted (verified, for an untrusted node) is paid to the seller
at the trade's price; when the map ends what was reserved and not paid goes back to the buyer.
A job its account submitted without a bid, under the account's buy mandates, bids per map at
the price of the mandate that covers the map's activity, and gets no new work while the
mandate is paused or has spent its day's budget. A job without a bid costs the dispatcher one
attribute test per map and node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from witengine.clock import wall_time
from witengine.errors import WitError
from witengine.hub.dispatch.records import Lease, MapState, NodeLink, mentions
from witengine.hub.exchange import receipts
from witengine.hub.store.ledger import credits
from witengine.hub.store.market import (
    MANDATE_PREFIX,
    MANDATED,
    BidRecord,
    MandateState,
    TradeRecord,
)
from witengine.protocol import Results
from witengine.scheduling.core import Candidate
from witengine.scheduling.fairshare import Claim, order
from witengine.scheduling.market import Offer, cost, match

if TYPE_CHECKING:
    from witengine.hub.dispatch.state import DispatchState

log = logging.getLogger(__name__)


@dataclass
class PaidMap:
    """A map traded on the exchange: its bid, escrow and the nodes that may run it now."""

    bid: BidRecord
    deadline: float | None  # clock time; None: none
    work: dict[int, float]  # item -> its work units, for the items without a result
    reserved: int = 0
    settled: int = 0
    nodes: frozenset[str] = frozenset()  # the nodes that may be given its work now
    prices: dict[str, tuple[int, str]] = field(default_factory=dict)  # node -> (price, ask id)
    reason: str = ""  # why no node may, when none may: the job's waiting line
    trade_of: dict[tuple[int, str], str] = field(default_factory=dict)  # (item, node) -> trade
    total_work: float = 0.0

    def work_left(self) -> float:
        return sum(self.work.values())


def open_paid(
    state: DispatchState,
    job_id: str,
    todo: Sequence[int],
    work: Sequence[float],
    activity: str = "",
    plugin: str = "",
) -> PaidMap | None:
    """The map's trading, when its job bid or a buy mandate of its account covers the map
    (its cost at the bid reserved); None otherwise. Unaffordable when the buyer holds too
    little."""
    market = state.market
    if market is None:
        return None
    bid = market.bid(job_id)
    if bid is None:
        return None
    if bid.mandate == MANDATED:
        mandate = market.buy_mandate_for(bid.account, activity, plugin)
        if mandate is None:
            return None  # no mandate buys this activity: the map runs as without a bid
        bid = replace(bid, price=mandate.price, mandate=mandate.id)
    deadline = None
    if bid.deadline is not None:
        deadline = state.clock.now() + (bid.deadline - wall_time())
    paid = PaidMap(bid, deadline, dict(zip(todo, work, strict=True)))
    paid.total_work = paid.work_left()
    amount = sum(cost(bid.price, units) for units in work)
    market.reserve(bid, amount, f"a map of {len(todo)} item(s), {paid.total_work:g} work units,")
    paid.reserved = amount
    return paid


def narrow(
    state: DispatchState, held: MapState, candidates: tuple[Candidate, ...]
) -> tuple[Candidate, ...]:
    """Of the nodes able to run a paid map, those the order book lets run it now."""
    if held.paid is None:
        return candidates
    return narrowed(state, held.paid, held.activity, held.plugin, candidates)


def narrowed(
    state: DispatchState,
    paid: PaidMap,
    activity: str,
    plugin: str,
    candidates: tuple[Candidate, ...],
) -> tuple[Candidate, ...]:
    """`narrow`, for a map not in flight yet."""
    market = state.market
    if market is None:
        return candidates
    offers = []
    paid.prices = {}
    for candidate in candidates:
        node = state.nodes.get(candidate.id)
        if node is None or not node.sells:
            continue
        ask = market.ask_for(node.owner, activity, plugin, paid.total_work, node.name)
        if ask is None:
            continue
        paid.prices[node.id] = (ask.price, ask.id)
        rate = state.scheduler.rates.rate(node.id, activity) * max(node.slots, 1)
        offers.append(Offer(node.id, ask.price, rate, ask.created_at))
    held_back = _mandate_holds(state, paid)
    if held_back:
        paid.nodes, paid.reason = frozenset(), held_back
        return ()
    seconds = None if paid.deadline is None else paid.deadline - state.clock.now()
    found = match(offers, paid.bid.price, paid.work_left(), seconds)
    paid.nodes = frozenset(found.nodes)
    paid.reason = f"waiting for a seller: {found.reason}" if found.reason else ""
    return tuple(c for c in candidates if c.id in paid.nodes)


def _mandate_holds(state: DispatchState, paid: PaidMap) -> str:
    """Why the buy mandate that bids for the map gives it no work now ("": it does)."""
    market, name = state.market, paid.bid.mandate
    if market is None or not name:
        return ""
    mandate = market.mandate(name)
    if mandate is None:
        return f"waiting: buy mandate {name}, which bid for it, was removed"
    if mandate.state == MandateState.PAUSED:
        return f"waiting: buy mandate {name} is paused (wit mandate resume {name})"
    if mandate.daily:
        spent = market.spent_today(name)
        if spent >= mandate.daily:
            return (
                f"waiting: buy mandate {name} spent its {credits(mandate.daily)} credits of "
                f"today (UTC) ({credits(spent)} paid or out); it buys again from 00:00 UTC"
            )
    return ""


def in_turn(state: DispatchState) -> list[MapState]:
    """The maps in the order a node's free slots are offered to them: as they opened, unless
    some are paid; then by `scheduling.fairshare.order` (the higher bid first, then the
    account that bought least lately, then the higher job priority)."""
    maps = list(state.maps.values())
    market = state.market
    if market is None or not any(held.paid is not None for held in maps):
        return maps
    now = market.wall()
    claims = []
    for seq, held in enumerate(maps):
        bid = held.paid.bid if held.paid is not None else None
        if bid is None:
            claims.append(Claim(held.id, "", 0, 0, seq))
        else:
            claims.append(Claim(held.id, bid.account, bid.price, bid.priority, seq))
    usage = market.usage.snapshot({c.account for c in claims if c.account}, now)
    return [state.maps[key] for key in order(claims, usage)]


def open_to(held: MapState, node_id: str) -> bool:
    """Whether the node may be given the map's work now: any node for a map without a bid."""
    return held.paid is None or node_id in held.paid.nodes


def refresh(state: DispatchState) -> None:
    """Match every paid map again (work done, time gone, asks changed): each tick."""
    now = state.clock.now()
    for held in state.maps.values():
        if held.paid is None or held.future.done():
            continue
        able = state.candidates(held.activity, held.job_id, held.requirements, held.pools)
        candidates = narrow(state, held, able)
        if candidates != held.candidates:
            held.candidates = candidates
            held.schedule.candidates_changed(candidates, now)
            state.wake()


def waiting(state: DispatchState, job_id: str) -> str | None:
    """Why a job's paid map gets no node, when one does not."""
    for held in state.maps.values():
        paid = held.paid
        if held.job_id == job_id and paid is not None and not paid.nodes and paid.work:
            return paid.reason
    return None


def assigned(
    state: DispatchState, node: NodeLink, held: MapState, batch_id: str, indices: Iterable[int]
) -> None:
    """A batch of a paid map went to the node: a trade at its owner's ask."""
    paid, market = held.paid, state.market
    if paid is None or market is None:
        return
    items = [i for i in indices if i in paid.work]
    price, ask_id = paid.prices.get(node.id, (paid.bid.price, ""))
    now = market.wall()
    work = sum(paid.work[i] for i in items)
    market.usage.add(paid.bid.account, work, now)
    market.open_trade(
        TradeRecord(
            batch_id,
            held.job_id,
            held.id,
            node.id,
            node.name,
            node.owner,
            paid.bid.account,
            held.activity,
            price,
            paid.bid.price,
            len(items),
            work,
            created_at=now,
            updated_at=now,
            ask_id=ask_id,
            mandate=paid.bid.mandate,
        )
    )
    for index in items:
        paid.trade_of[(index, node.id)] = batch_id
    held_back = _mandate_holds(state, paid)
    if held_back:  # no more of it out until the next tick finds the budget again
        paid.nodes, paid.reason = frozenset(), held_back
    market.phase(
        batch_id,
        "matched",
        f"{_offer(ask_id)} at {credits(price)} a work unit, within "
        f"{_offer(paid.bid.mandate) + 's bid' if paid.bid.mandate else 'bid'} "
        f"{credits(paid.bid.price)}",
    )
    market.phase(batch_id, "assigned", f"{len(items)} item(s), {work:g} work units to {node.name}")
    if not _blobs(held, items):
        market.phase(batch_id, "input transferred", "its inputs travel in the assignment")


def _offer(name: str) -> str:
    """An ask's or a mandate's name, as a trade's phase tells it."""
    if name.startswith(MANDATE_PREFIX):
        return f"mandate {name}"
    return f"ask {name}"


def _blobs(held: MapState, items: Sequence[int]) -> bool:
    """Whether any of the items' arguments names a blob (a file the node fetches)."""
    return any(_names_blob(arg) for i in items for arg in held.items[i])


def _names_blob(value: object) -> bool:
    if isinstance(value, dict):
        return "sha256" in value or any(_names_blob(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_names_blob(v) for v in value)
    return False


def fetched(state: DispatchState, node_id: str, sha256: str) -> None:
    """The node fetched a blob: the trades whose items name it have their input."""
    market = state.market
    if market is None:
        return
    for lease in _paid_leases(state, node_id):
        held = state.maps[lease.map_id]
        if any(mentions(list(held.items[i]), sha256) for i in lease.indices):
            market.phase(lease.batch_id, "input transferred", f"blob {sha256[:12]}", once=True)


def running(state: DispatchState, node_id: str, batch_ids: Iterable[str]) -> None:
    """The node says it holds these batches (a heartbeat): the paid ones have started."""
    market = state.market
    if market is None:
        return
    for batch_id in batch_ids:
        if market.trade(batch_id) is not None:
            market.phase(batch_id, "started", "the node reported the batch running", once=True)


def uploaded(state: DispatchState, node: NodeLink, message: Results) -> bool:
    """Results of a batch came: whether they may be taken. Those of a trade must carry its
    seller's signed receipt when the node holds its owner's key (`receipts.take`); refused,
    they count for nothing, the trade is rejected, its items go to other nodes and the node
    sells no more until it connects again."""
    market, batch_id = state.market, message.batch_id
    trade = market.trade(batch_id) if market is not None else None
    if market is None or trade is None:
        return True
    taken = receipts.take(
        market.store, trade, node.receipts, message.results, message.receipt, market.wall()
    )
    if taken.refused:
        _refuse(state, node, trade, len(message.results), taken.refused)
        return False
    market.phase(batch_id, "started", "its first result came", once=True)
    market.phase(batch_id, "results uploaded", f"{len(message.results)} result(s), {taken.detail}")
    return True


def _refuse(state: DispatchState, node: NodeLink, trade: TradeRecord, count: int, why: str) -> None:
    reason = f"results refused: node {node.name} cannot sell for account {trade.seller}: {why}"
    log.warning("trade %s: %s", trade.id, reason)
    node.sells = False
    if state.market is not None:
        state.market.rejected(trade.id, count, reason)
    lease = state.leases.get(trade.id)
    if lease is None or lease.node_id != node.id:
        return
    held = state.maps.get(lease.map_id)
    if held is not None:
        held.schedule.batch_ended(lease.batch_id, state.clock.now())
    state.drop_lease(lease, cancel=True, reason=reason)
    state.candidates_changed()


def verified(state: DispatchState, held: MapState, index: int, node: NodeLink, how: str) -> None:
    paid, market = held.paid, state.market
    if paid is None or market is None:
        return
    trade_id = paid.trade_of.get((index, node.id))
    if trade_id is not None:
        market.phase(trade_id, "verified", f"item {index}: {how}")


def rejected(state: DispatchState, held: MapState, index: int, node_id: str, why: str) -> None:
    """Verification found the node's result wrong: nothing is paid for it."""
    paid, market = held.paid, state.market
    if paid is None or market is None:
        return
    trade_id = paid.trade_of.get((index, node_id))
    if trade_id is not None:
        market.rejected(trade_id, 1, f"item {index}: {why}")


def accepted(state: DispatchState, held: MapState, results: Sequence[tuple[NodeLink, int]]) -> None:
    """Results of a paid map were committed: pay each to the seller of its trade."""
    paid, market = held.paid, state.market
    if paid is None or market is None:
        return
    per_trade: dict[str, list[int]] = {}
    for node, index in results:
        trade_id = paid.trade_of.get((index, node.id))
        if trade_id is None:
            continue  # run before a restart: its trade is gone, its escrow refunded
        if node.trusted:
            market.phase(
                trade_id, "verified", "a trusted node's results are taken as they come", once=True
            )
        per_trade.setdefault(trade_id, []).append(index)
    for trade_id, indices in per_trade.items():
        trade = market.trade(trade_id)
        if trade is None:
            continue
        amount = sum(cost(trade.price, paid.work.pop(i, 0.0)) for i in indices)
        try:
            market.settle(trade_id, len(indices), amount)
        except WitError:  # never expected: the escrow holds the bid's cost of every item
            log.exception("could not settle trade %s", trade_id)
            continue
        paid.settled += amount
    for _, index in results:
        paid.work.pop(index, None)


def lease_ended(state: DispatchState, lease: Lease, why: str) -> None:
    """The batch is no longer out: its trade closes once the results that came with this
    round of messages are settled (a node's last results and its word that it is done with
    the batch come together)."""
    market = state.market
    if market is not None and market.trade(lease.batch_id) is not None:
        left = len(lease.indices)
        detail = why if not left else f"{why}; {left} item(s) not delivered, not paid"
        try:
            asyncio.get_running_loop().call_soon(market.close_trade, lease.batch_id, detail)
        except RuntimeError:  # no loop running (a test driving the dispatcher by hand)
            market.close_trade(lease.batch_id, detail)


def closed(state: DispatchState, held: MapState) -> None:
    """The map ended: what was reserved for it and not paid goes back to the buyer."""
    paid, market = held.paid, state.market
    if paid is None or market is None:
        return
    try:
        market.refund(held.job_id, paid.bid.account, paid.reserved - paid.settled, "map ended")
    except WitError:
        log.exception("could not refund map %s", held.id)


def _paid_leases(state: DispatchState, node_id: str) -> list[Lease]:
    node = state.nodes.get(node_id)
    if node is None:
        return []
    leases = (state.leases.get(b) for b in node.leases)
    return [
        lease
        for lease in leases
        if lease is not None
        and (held := state.maps.get(lease.map_id)) is not None
        and held.paid is not None
    ]
