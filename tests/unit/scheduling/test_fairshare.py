"""Fair share between buyers (`scheduling.fairshare`), as properties: the order is every claim
once; a higher price always comes first; at one price the account that used less comes first,
and within an account the higher priority, then the older map; usage halves each half-life and
never grows by itself. And the share itself: buyers at one price, each always wanting work,
handed a farm's slots one batch at a time in that order, end within a batch of each other."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.fairshare import HALF_LIFE, Claim, Usage, decayed, order

ACCOUNTS = ("ann", "bo", "cy", "")
claims_strategy = st.lists(
    st.builds(
        Claim,
        key=st.uuids().map(str),
        account=st.sampled_from(ACCOUNTS),
        price=st.sampled_from((0, 1000, 2000, 3000)),
        priority=st.integers(-3, 3),
        seq=st.integers(0, 1000),
    ),
    max_size=12,
    unique_by=lambda c: c.key,
)
usage_strategy = st.dictionaries(
    st.sampled_from(ACCOUNTS), st.floats(0, 1e6, allow_nan=False), max_size=4
)


@settings(deadline=None)
@given(claims_strategy, usage_strategy)
def test_the_order_ranks_price_then_usage_then_priority_then_age(
    claims: list[Claim], usage: dict[str, float]
) -> None:
    ranked = order(claims, usage)
    assert sorted(ranked) == sorted(c.key for c in claims)
    by_key = {c.key: c for c in claims}
    for first, later in itertools.combinations([by_key[k] for k in ranked], 2):
        assert first.price >= later.price
        if first.price != later.price:
            continue
        used_first, used_later = usage.get(first.account, 0.0), usage.get(later.account, 0.0)
        assert used_first <= used_later
        if used_first == used_later and first.account == later.account:
            assert (first.priority, -first.seq) >= (later.priority, -later.seq)


@settings(deadline=None)
@given(
    st.floats(0, 1e9, allow_nan=False),
    st.floats(0, 10 * HALF_LIFE, allow_nan=False),
    st.floats(0, 10 * HALF_LIFE, allow_nan=False),
)
def test_usage_halves_each_half_life_and_never_grows_by_itself(
    value: float, first: float, second: float
) -> None:
    assert decayed(value, HALF_LIFE) == value / 2
    assert decayed(value, first + second) <= decayed(value, first) <= value
    assert decayed(value, -5.0) == value  # a clock gone back counts as no time
    usage = Usage()
    usage.add("ann", value, 100.0)
    assert usage.of("ann", 100.0) == value and usage.of("bo", 100.0) == 0.0
    assert usage.of("ann", 100.0 + first) == pytest.approx(decayed(value, first))


@settings(deadline=None)
@given(
    st.integers(2, 4),  # buyers at one price
    st.lists(st.integers(1, 9), min_size=1, max_size=6),  # batch sizes, in turn
    st.integers(0, 3),  # which buyer's map is the oldest
)
def test_buyers_at_one_price_share_the_slots_within_a_batch(
    buyers: int, sizes: list[int], oldest: int
) -> None:
    names = [f"buyer{i}" for i in range(buyers)]
    claims = [
        Claim(f"map_{name}", name, 2000, seq=(i - oldest) % buyers) for i, name in enumerate(names)
    ]
    usage = Usage()
    given_to = dict.fromkeys(names, 0)
    now = 0.0
    for turn in range(60):  # each turn, one slot frees and is offered in fair-share order
        now += 1.0
        first = order(claims, usage.snapshot(names, now))[0]
        account = first.removeprefix("map_")
        size = sizes[turn % len(sizes)]
        usage.add(account, size, now)
        given_to[account] += size
    # Usage decays alike for everybody within a minute, so counts stay within a batch.
    spread = max(given_to.values()) - min(given_to.values())
    assert spread <= max(sizes), given_to


@settings(deadline=None)
@given(st.integers(0, 3), st.integers(1, 5))
def test_a_higher_bid_goes_first_whatever_its_accounts_usage(extra: int, bidders: int) -> None:
    claims = [Claim(f"low_{i}", f"a{i}", 1000, seq=i) for i in range(bidders)]
    claims.append(Claim("high", "greedy", 1000 + 500 * (extra + 1), seq=99))
    usage = {"greedy": 1e9}  # it bought a great deal lately
    assert order(claims, usage)[0] == "high"
