"""Untrusted nodes in the simulator: what they answer, how their answers are verified, and what
verification cost.

Each untrusted node answers as its `Conduct` says (`cheaters`); an item's true result is
`cheaters.truth(index)`, and two results agree when they are equal. Every result the schedule
takes, and every answer to a spot check, is counted here (`TrustTally`): in the job's work
units, the results returned beyond one an item and the spot checks are what verification cost
(`replicated_share`: over the whole job, over the first tenth of the items to be answered, and
over the items answered after the first half was, with the spot checks answered meanwhile). A
result counts as committed only once verification accepts it; it is wrong when it differs from
the truth.

Pure: virtual time passed in; randomness from the run's seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from witengine.scheduling.verification import (
    Answer,
    Ruling,
    TrustBook,
    VerificationSettings,
    Votes,
)
from witengine.scheduling.verification import Tally as VerificationTally

if TYPE_CHECKING:
    from witengine.scheduling.simulation_loop import EventLoop

__all__ = ["TrustReport", "TrustTally", "Verifier"]


@dataclass(frozen=True)
class TrustReport:
    """What verifying an untrusted farm cost, and whether it held."""

    untrusted: int  # untrusted nodes
    cheaters: int
    cheaters_caught: int  # cheaters blocklisted by the end of the job
    honest_caught: int  # honest nodes blocklisted (must be 0)
    wrong_returned: int  # results nodes returned that differ from the truth
    wrong_committed: int  # results committed that differ from the truth (must be 0)
    replicated_share: float  # work returned beyond one result an item, over the job's work
    replicated_share_start: float  # … while the first tenth of the items was committed
    replicated_share_last_half: float  # … after half the items were
    required_work: float  # the job's work and the verification's, as honest nodes returned it
    bound_job: float  # the bound of the job's work alone, on every node
    efficiency_job: float  # bound_job / makespan: what verifying costs against a trusted farm

    def to_json(self) -> dict[str, object]:
        return {
            key: round(value, 6) if isinstance(value, float) else value
            for key, value in self.__dict__.items()
        }


@dataclass
class TrustTally:
    """The results an untrusted run's schedule took, counted as they come."""

    work: Sequence[float]  # each item's work, in the job's units
    rng: random.Random  # the cheaters' noise
    returned: list[int] = field(init=False)  # results taken of each item
    answered_at: list[float] = field(init=False)  # when each item's first result was taken
    committed_at: list[float] = field(init=False)  # when each item's result was accepted
    spots: list[tuple[float, float]] = field(default_factory=list)  # (time, work) of each
    required: list[float] = field(default_factory=list)  # work of results honest nodes returned
    wrong_returned: int = 0
    wrong_committed: int = 0
    caught: set[int] = field(default_factory=set)  # nodes blocklisted

    def __post_init__(self) -> None:
        self.returned = [0] * len(self.work)
        self.answered_at = [math.nan] * len(self.work)
        self.committed_at = [math.nan] * len(self.work)

    def taken(
        self, index: int, value: int, right: int, honest: bool, now: float, *, spot: bool = False
    ) -> None:
        """The schedule took a result for item `index` (it did not ignore it), or verification
        took it as the answer to a spot check."""
        weight = self.work[index]
        if spot:
            self.spots.append((now, weight))
        else:
            if not self.returned[index]:
                self.answered_at[index] = now
            self.returned[index] += 1
        if honest:
            self.required.append(weight)
        if value != right:
            self.wrong_returned += 1

    def accepted(self, index: int, value: int, right: int, now: float) -> None:
        """Item `index`'s result is committed: verification accepted `value`."""
        self.committed_at[index] = now
        if value != right:
            self.wrong_committed += 1

    def shares(self) -> tuple[float, float, float]:
        """What verification cost, over the job's work: over the whole job, over the first
        tenth of the items to be answered, and over those answered after half of them were.
        (By when an item was first answered: a reliable node's results held unchecked are
        committed only when the map has nothing else to wait for.)"""
        times = sorted(t for t in self.answered_at if not math.isnan(t))
        if not times:
            return 0.0, 0.0, 0.0
        tenth = times[max(0, math.ceil(len(times) / 10) - 1)]
        half = times[max(0, math.ceil(len(times) / 2) - 1)]
        return (
            self._share(-math.inf, math.inf),
            self._share(-math.inf, tenth),
            self._share(half, math.inf),
        )

    def _share(self, after: float, until: float) -> float:
        """The work of the results beyond one an item, of the items first answered in (after,
        until], and of the spot checks answered then, over the work of those items."""
        work = extra = 0.0
        for weight, count, at in zip(self.work, self.returned, self.answered_at, strict=True):
            if after < at <= until:
                work += weight
                extra += weight * (count - 1)
        extra += math.fsum(w for t, w in self.spots if after < t <= until)
        return extra / work if work > 0 else 0.0


class Verifier:
    """The hub's verification of untrusted nodes' results (`hub/dispatch/verifying`) in the
    simulator: the same pure core (`scheduling.verification`) under the same rules, with
    comparisons by equality, done at once.

    A result the schedule said to COMMIT is held: a new node's is verified (the item reopened
    as a replica for another owner until the quorum decides), a reliable node's is held
    unchecked until a later check of its work agrees or the map has nothing else to wait for.
    A node caught wrong is blocked, its batches called back and its unchecked results reopened.
    Some batches of an untrusted node carry a spot check: an item already verified, placed at
    random among the others, checked against the known value and never shown to the schedule.
    """

    def __init__(
        self, loop: EventLoop, activity: str, settings: VerificationSettings, seed: int
    ) -> None:
        self.loop = loop
        self.activity = activity
        self.settings = settings
        self.book = TrustBook(settings, random.Random(seed))
        self.placing = random.Random(seed)  # where a spot check goes in its batch
        self.numbers = {node.spec.id: k for k, node in enumerate(loop.nodes)}
        self.pending: dict[int, Votes] = {}  # items under verification
        self.unchecked: dict[int, dict[int, Answer]] = {}  # node -> item -> its answer, held
        self.known: list[tuple[int, frozenset[str]]] = []  # verified items, and who answered
        self.values: dict[int, int] = {}  # the committed value of each verified item
        self.spots: dict[tuple[int, int], int] = {}  # (node, item) out as a spot check -> value
        self.failure: tuple[int, str] | None = None  # an item no quorum could settle

    def blocked(self, k: int) -> bool:
        spec = self.loop.nodes[k].spec
        return not spec.trusted and self.book.blocked(spec.id, self.activity)

    # ------------------------------------------------------------------ answers

    def answered(self, k: int, index: int, value: int) -> None:
        """The schedule said to commit node k's result for item `index`."""
        spec = self.loop.nodes[k].spec
        owner = spec.owner or spec.id
        votes = self.pending.get(index)
        if spec.trusted and votes is None:
            self.known.append((index, frozenset((owner,))))
            self.commit(index, value)
            return
        answer = Answer(spec.id, owner, spec.trusted, value)
        if votes is not None:
            agrees = [first.value == value for first in votes.representatives()]
            self.ruled(index, votes, votes.add(answer, agrees))
        elif self.book.check(spec.id, self.activity):
            votes = self.pending[index] = Votes(self.settings)
            self.ruled(index, votes, votes.add(answer, []))
        else:
            self.unchecked.setdefault(k, {})[index] = answer
            self.release_if_done()

    def ruled(self, index: int, votes: Votes, tally: VerificationTally) -> None:
        """Carry out what the item's answers decided."""
        loop = self.loop
        if tally.ruling is Ruling.REPLICATE:
            loop.schedule.reopen(index, tally.owners, loop.now)
            return
        del self.pending[index]
        book, activity = self.book, self.activity
        if tally.ruling is Ruling.FAIL:
            self.failure = (index, tally.reason)
            return
        assert tally.accepted is not None
        self.commit(index, tally.accepted.value)
        self.known.append((index, tally.owners))
        for answer in tally.agreeing:
            if not answer.trusted:
                book.agreed(answer.node_id, activity)
                self.vouched(self.numbers[answer.node_id])
        for answer in tally.wrong:
            if not answer.trusted and not book.blocked(answer.node_id, activity):
                self.caught(self.numbers[answer.node_id])
        self.release_if_done()

    def commit(self, index: int, value: int) -> None:
        self.values[index] = value
        self.loop.accept(index, value)

    def vouched(self, k: int) -> None:
        """A check of node k's work agreed: what it returned unchecked before is committed."""
        held = self.unchecked.pop(k, None)
        for index, answer in (held or {}).items():
            self.commit(index, answer.value)

    def release_if_done(self) -> None:
        """The map has nothing left to wait for but results held unchecked: commit them."""
        if not self.loop.schedule.done or self.pending or not self.unchecked:
            return
        for k in list(self.unchecked):
            self.vouched(k)

    # ------------------------------------------------------------------ consequences

    def caught(self, k: int, *, spot: bool = False) -> None:
        """Node k was caught wrong: blocked, its batches called back, its unchecked results
        reopened for other owners."""
        loop = self.loop
        spec = loop.nodes[k].spec
        if spot:
            self.book.spot_failed(spec.id, self.activity)
        else:
            self.book.wrong(spec.id, self.activity)
        assert loop.trust is not None
        loop.trust.caught.add(k)
        schedule, now = loop.schedule, loop.now
        for batch_id in schedule.cancel_node(spec.id):
            schedule.batch_ended(batch_id, now)
            loop.cancel(batch_id)
        for votes in self.pending.values():
            votes.discard(spec.id)  # the item is out as a replica already
        for key in [key for key in self.spots if key[0] == k]:
            del self.spots[key]
        owner = frozenset((spec.owner or spec.id,))
        for index in self.unchecked.pop(k, {}):
            schedule.reopen(index, owner, now)
        loop.wake()

    # ------------------------------------------------------------------ spot checks

    def spot_check(self, k: int, indices: tuple[int, ...]) -> tuple[int, ...]:
        """The items node k runs for a batch of `indices`: maybe one more, a spot check (an
        item verified by others, whose value is known), placed at random among them."""
        spec = self.loop.nodes[k].spec
        known = self.known
        if spec.trusted or not known or not self.book.spot_check(spec.id, self.activity):
            return indices
        index, owners = known[self.book.random.randrange(len(known))]
        if (spec.owner or spec.id) in owners:
            return indices
        self.spots[(k, index)] = self.values[index]
        at = self.placing.randrange(len(indices) + 1)
        return (*indices[:at], index, *indices[at:])

    def spot_answered(self, k: int, index: int, value: int) -> bool:
        """Whether node k's result answers a spot check (then it is checked here)."""
        known = self.spots.pop((k, index), None)
        if known is None:
            return False
        spec = self.loop.nodes[k].spec
        if self.book.blocked(spec.id, self.activity):
            return True  # caught meanwhile: this answer changes nothing
        if value == known:
            self.book.spot_passed(spec.id, self.activity)
        else:
            self.caught(k, spot=True)
        return True
