"""The simulated cheaters: each lies the way the untrusted-nodes fault suite says, and only so."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from witengine.scheduling.cheaters import (
    CHEATS,
    COPY_EFFORT,
    Conduct,
    Mind,
    cheater_count,
    conducts,
    truth,
)


def answers(conduct: Conduct, batches: list[list[int]], seed: int = 0, owner: int = 0) -> list[int]:
    """What a node of `conduct` answers for each item of its batches, in order."""
    mind, rng = Mind(conduct, owner), random.Random(seed)
    found = []
    for batch in batches:
        mind.batch(batch)
        found += [mind.answer(index, rng) for index in batch]
    return found


def wrong(conduct: Conduct, batches: list[list[int]], seed: int = 0) -> list[int]:
    """The items a node of `conduct` answers wrong."""
    items = [i for batch in batches for i in batch]
    return [i for i, a in zip(items, answers(conduct, batches, seed), strict=True) if a != truth(i)]


def test_the_truth_differs_for_every_item() -> None:
    assert len({truth(i) for i in range(100_000)}) == 100_000


def test_an_honest_node_answers_the_truth_at_full_effort() -> None:
    batches = [list(range(10)), [3, 2, 40]]
    assert wrong(Conduct.HONEST, batches) == []
    assert Mind(Conduct.HONEST).effort(5) == 1.0


def test_a_random_node_is_wrong_on_every_item() -> None:
    assert wrong(Conduct.RANDOM, [list(range(50))]) == list(range(50))


def test_a_copier_computes_a_batch_s_first_item_and_returns_it_for_the_rest() -> None:
    found = answers(Conduct.COPIES, [[5, 6, 7], [9], [20, 21]])
    assert found == [truth(5), truth(5), truth(5), truth(9), truth(20), truth(20)]
    mind = Mind(Conduct.COPIES)
    assert mind.effort(0) == 1.0 and mind.effort(1) == COPY_EFFORT


def test_a_mostly_right_node_is_wrong_about_one_item_in_twenty() -> None:
    misses = len(wrong(Conduct.MOSTLY_RIGHT, [list(range(20_000))], seed=3))
    assert 800 < misses < 1_200
    assert wrong(Conduct.MOSTLY_RIGHT, [list(range(500))], seed=3) == wrong(
        Conduct.MOSTLY_RIGHT, [list(range(500))], seed=3
    )


def test_a_lookalike_cheater_is_wrong_only_on_items_older_than_one_it_was_handed() -> None:
    assert wrong(Conduct.LOOKALIKES, [[10, 11, 12], [30, 31], [4, 32, 20]]) == [4, 20]
    assert wrong(Conduct.LOOKALIKES, [list(range(100))]) == []


def test_colluders_of_one_owner_give_the_same_wrong_answer_and_another_owner_s_another() -> None:
    first = answers(Conduct.COLLUDES, [list(range(20))], seed=1, owner=4)
    second = answers(Conduct.COLLUDES, [list(range(20))], seed=2, owner=4)
    assert first == second
    assert all(a != truth(i) for i, a in enumerate(first))
    other = answers(Conduct.COLLUDES, [list(range(20))], owner=5)
    assert all(a != b and a != truth(i) for i, (a, b) in enumerate(zip(other, first, strict=True)))


def test_six_cheaters_are_the_fault_suite_one_of_each_and_a_colluding_pair() -> None:
    farm = conducts(100, 6)
    kinds = Counter(kind for kind, _ in farm)
    assert kinds == Counter(
        {Conduct.HONEST: 94, Conduct.COLLUDES: 2, **dict.fromkeys(CHEATS[:4], 1)}
    )
    owners = Counter(owner for _, owner in farm)
    (pair,) = {owner for kind, owner in farm if kind is Conduct.COLLUDES}
    assert owners[pair] == 2 and len(owners) == 99  # every other node its own owner


def test_a_farm_s_cheaters_take_each_kind_in_turn_colluders_two_at_a_time() -> None:
    kinds = Counter(kind for kind, _ in conducts(1000, 20))
    assert kinds[Conduct.COLLUDES] == 6 and kinds[Conduct.RANDOM] == 4
    assert kinds[Conduct.COPIES] == 4 and kinds[Conduct.HONEST] == 980
    assert [kind for kind, _ in conducts(10, 5)][:5] == [*CHEATS[:4], Conduct.RANDOM]


@pytest.mark.parametrize(
    ("nodes", "share", "count"), [(1000, 0.02, 20), (100, 0.02, 2), (10, 0.01, 1), (10, 0.0, 0)]
)
def test_the_share_of_cheaters_rounds_and_is_at_least_one(
    nodes: int, share: float, count: int
) -> None:
    assert cheater_count(nodes, share) == count


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        cheater_count(10, 1.5)
