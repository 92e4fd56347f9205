"""The exchange's fee rate as `wit hub --exchange-fee` reads it, and a price's split by it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.hub.exchange.fees import HIGHEST, parse_fee, shown, split


@pytest.mark.parametrize(
    ("text", "points"),
    [
        ("0", 0),
        ("0%", 0),
        ("2%", 200),
        (" 2.5 % ", 250),
        ("0.02", 200),
        ("0.01%", 1),
        ("50%", 5000),
    ],
)
def test_a_rate_reads_as_basis_points(text: str, points: int) -> None:
    assert parse_fee(text) == points


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("two", "not a rate"),
        ("", "not a rate"),
        ("-1%", "outside 0% to 50%"),
        ("60%", "outside 0% to 50%"),
        ("0.6", "outside 0% to 50%"),
        ("0.001%", "finer than a hundredth of a percent"),
        ("nan", "outside"),
    ],
)
def test_a_rate_that_is_none_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_fee(text)


def test_a_rate_is_shown_as_a_percentage() -> None:
    assert shown(200) == "2%" and shown(250) == "2.5%" and shown(0) == "0%"


@settings(deadline=None)
@given(st.integers(1, 10**15), st.integers(0, HIGHEST))
def test_a_price_splits_whole_between_seller_and_fee(price: int, points: int) -> None:
    seller, fee = split(price, points)
    assert seller + fee == price
    assert 0 <= fee <= seller  # at most half, and the seller is never left nothing
    assert fee == price * points // 10_000
