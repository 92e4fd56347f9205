"""Matching a paid map's bid against the sellers' asks, like an order book.

Pure: the caller gives each able node's offer (its owner's ask, and its rate), the map's bid,
the work left and the seconds left until its deadline; `match` says which nodes may be given
the map's work. Nodes whose ask is above the bid never are. Among the others the cheapest come
first (price, then the older ask: price-time priority): with no deadline, only the nodes at
the lowest price; with a deadline, the cheapest nodes that together can finish the work left
in time, adding dearer ones only as the deadline needs them; when even all of them cannot,
every node within the bid, the fastest first. A trade's price is the seller's ask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Offer:
    """A node able to run the map, at its owner's ask."""

    node_id: str
    price: int  # milli-credits per work unit
    rate: float  # work units per second the node does (all its slots)
    since: float = 0.0  # when the ask was made: the older of two at one price comes first


@dataclass(frozen=True)
class Match:
    """The nodes that may be given the map's work, in the order they are preferred, and why
    none may when none may."""

    nodes: tuple[str, ...]
    reason: str = ""


def cost(price: int, work: float) -> int:
    """What `work` units cost at `price` milli-credits a unit, in whole milli-credits (rounded
    up, so that a reservation at the bid covers any trade at an ask at or below it)."""
    return max(0, math.ceil(price * work - 1e-9))


def match(offers: Iterable[Offer], bid: int, work_left: float, seconds_left: float | None) -> Match:
    """Which offers may take the map's work (see the module's docstring)."""
    offers = list(offers)
    within = sorted((o for o in offers if o.price <= bid), key=lambda o: (o.price, o.since))
    if not within:
        if not offers:
            return Match((), "no node of an account with an ask for this activity is available")
        cheapest = min(o.price for o in offers)
        return Match(
            (),
            f"its bid of {bid} milli-credits a work unit is below every ask of the nodes able "
            f"to run it (the cheapest asks {cheapest})",
        )
    if seconds_left is None:
        lowest = within[0].price
        return Match(tuple(o.node_id for o in within if o.price == lowest))
    chosen: list[Offer] = []
    capacity = 0.0
    if seconds_left > 0:
        for offer in within:
            chosen.append(offer)
            capacity += offer.rate
            if capacity * seconds_left >= work_left:
                return Match(tuple(o.node_id for o in chosen))
    fastest = sorted(within, key=lambda o: (-o.rate, o.price, o.since))
    return Match(tuple(o.node_id for o in fastest))
