"""Order-book matching of a paid map's bid against the nodes' asks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.market import Offer, cost, match

CHEAP = Offer("cheap", price=2000, rate=1.0, since=1.0)
DEAR = Offer("dear", price=6000, rate=4.0, since=0.0)
ABOVE = Offer("above", price=9000, rate=100.0)


def test_nodes_asking_more_than_the_bid_are_never_eligible() -> None:
    assert match([ABOVE, CHEAP], 5000, 100.0, None).nodes == ("cheap",)
    assert "above" not in match([ABOVE, CHEAP], 5000, 1e9, 1.0).nodes


def test_without_a_deadline_only_the_cheapest_price_gets_work() -> None:
    assert match([DEAR, CHEAP], 7000, 1000.0, None).nodes == ("cheap",)


def test_the_cheap_node_alone_while_it_can_meet_the_deadline() -> None:
    assert match([DEAR, CHEAP], 7000, 10.0, 20.0).nodes == ("cheap",)


def test_dearer_nodes_join_when_the_deadline_needs_them() -> None:
    assert match([DEAR, CHEAP], 7000, 40.0, 10.0).nodes == ("cheap", "dear")


def test_fastest_first_when_no_set_of_nodes_can_meet_the_deadline() -> None:
    assert match([CHEAP, DEAR], 7000, 1000.0, 10.0).nodes == ("dear", "cheap")
    assert match([CHEAP, DEAR], 7000, 1.0, -5.0).nodes == ("dear", "cheap")


def test_at_one_price_the_older_ask_comes_first() -> None:
    older = Offer("older", 2000, 1.0, since=0.0)
    assert match([CHEAP, older], 2000, 1.0, 10.0).nodes == ("older",)


def test_a_bid_below_every_ask_says_so() -> None:
    found = match([CHEAP, DEAR], 1000, 1.0, None)
    assert found.nodes == ()
    assert "below every ask" in found.reason and "2000" in found.reason
    assert "no node" in match([], 1000, 1.0, None).reason


def test_cost_rounds_up_to_whole_milli_credits() -> None:
    assert cost(2000, 1.5) == 3000
    assert cost(1, 0.3) == 1
    assert cost(0, 5.0) == 0


@settings(deadline=None, max_examples=50)
@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0.0, 1000.0, allow_nan=False),
)
def test_a_reservation_at_the_bid_covers_a_trade_at_any_ask_within_it(
    ask: int, bid: int, work: float
) -> None:
    if ask <= bid:
        assert cost(ask, work) <= cost(bid, work)
