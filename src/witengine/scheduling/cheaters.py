"""What a simulated untrusted node answers: the truth, or one of the ways a cheater lies.

An item's true result is a number, `truth(index)`; two results agree when they are equal. An
honest node answers the truth. The cheaters are those of the untrusted-nodes fault suite:
- `RANDOM` returns noise (a broken GPU, a plugin modified to skip the work);
- `COPIES` computes the first item of each batch and returns its result for the rest, so the
  rest cost it nearly nothing (results for items it never computed);
- `MOSTLY_RIGHT` is right `right_share` of the time (95 %) and returns noise otherwise;
- `LOOKALIKES` is wrong only on items that look like spot checks to it: items it is handed
  after it was handed an item of a higher index (an old item: spot checks are items whose
  answers are known, and replicas are items handed out before);
- `COLLUDES` nodes come in pairs of one owner and return the same wrong answer for an item, so
  the two would agree with each other (another pair, of another owner, lies otherwise).

A `Mind` holds what one node's conduct needs to remember (the batch's first item, the highest
index it was handed) and draws its noise from the random source it is given, so a run stays
repeatable. Pure: no clock, no I/O.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

_MASK = 0xFFFFFFFF
_COLLUSION = 0x5A5A5A5B  # colluders add this times their owner's number to the truth


class Conduct(enum.StrEnum):
    """How a simulated node answers."""

    HONEST = "honest"
    RANDOM = "random"
    COPIES = "copies"
    MOSTLY_RIGHT = "mostly-right"
    LOOKALIKES = "lookalikes"
    COLLUDES = "colludes"

    @property
    def cheats(self) -> bool:
        return self is not Conduct.HONEST


# The cheaters' kinds in the order a farm's cheaters are given them (see `conducts`).
CHEATS: tuple[Conduct, ...] = (
    Conduct.RANDOM,
    Conduct.COPIES,
    Conduct.MOSTLY_RIGHT,
    Conduct.LOOKALIKES,
    Conduct.COLLUDES,
)

COPY_EFFORT = 0.01  # a copied result costs this share of computing the item


def truth(index: int) -> int:
    """Item `index`'s true result: distinct for distinct items (an odd multiplier modulo 2^32)."""
    return (index * 0x9E3779B1 + 0x7F4A7C15) & _MASK


def conducts(nodes: int, cheaters: int) -> list[tuple[Conduct, int]]:
    """Each node's conduct and owner number: the first `cheaters` nodes cheat, their kinds taken
    in turn from `CHEATS` (colluders two at a time, a pair of one owner: six cheaters are the
    fault suite's, one of each and a pair); every other node is honest and its own owner. The
    caller shuffles them over its nodes."""
    if not 0 <= cheaters <= nodes:
        raise ValueError(f"cheaters must be between 0 and the {nodes} nodes, got {cheaters}")
    found: list[tuple[Conduct, int]] = []
    turn = 0
    while len(found) < cheaters:
        kind = CHEATS[turn % len(CHEATS)]
        turn += 1
        if kind is Conduct.COLLUDES and cheaters - len(found) < 2:
            continue  # no room for a pair
        found += [(kind, len(found) + 1)] * (2 if kind is Conduct.COLLUDES else 1)
    found += [(Conduct.HONEST, number + 1) for number in range(len(found), nodes)]
    return found


def cheater_count(nodes: int, share: float) -> int:
    """How many of `nodes` cheat at `share`: rounded, and at least one for any share above 0."""
    if not 0 <= share <= 1:
        raise ValueError(f"the share of cheaters must be between 0 and 1, got {share}")
    return min(nodes, max(1 if share > 0 else 0, round(nodes * share)))


@dataclass(slots=True)
class Mind:
    """One simulated node's conduct and what it remembers to carry it out."""

    conduct: Conduct
    owner: int = 0  # COLLUDES: the owner's number, which its lie depends on
    right_share: float = 0.95  # MOSTLY_RIGHT: how often it is right
    copied: int | None = None  # COPIES: the result it copies in the current batch
    highest: int = -1  # the highest index it has been handed

    def batch(self, indices: Sequence[int]) -> None:
        """A new batch reached the node: a copier computes its first item for the rest."""
        self.copied = truth(indices[0]) if indices else None

    def effort(self, position: int) -> float:
        """The share of an item's work the node spends on the item at `position` of its batch."""
        return COPY_EFFORT if self.conduct is Conduct.COPIES and position > 0 else 1.0

    def answer(self, index: int, rng: random.Random) -> int:
        """The node's result for item `index`."""
        conduct = self.conduct
        right = truth(index)
        old = index < self.highest
        self.highest = max(self.highest, index)
        if conduct is Conduct.HONEST:
            return right
        if conduct is Conduct.COPIES:
            return right if self.copied is None else self.copied
        if conduct is Conduct.COLLUDES:
            return (right + _COLLUSION * (self.owner + 1)) & _MASK
        if conduct is Conduct.LOOKALIKES and not old:
            return right
        if conduct is Conduct.MOSTLY_RIGHT and rng.random() < self.right_share:
            return right
        return _noise(right, rng)


def _noise(right: int, rng: random.Random) -> int:
    """A random result that is not the truth."""
    wrong = rng.getrandbits(32)
    return wrong if wrong != right else (wrong + 1) & _MASK
