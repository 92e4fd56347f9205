"""Untrusted nodes in the simulator: what they answer, how their answers are verified, and what
verification cost.

Each untrusted node answers as its `Conduct` says (`cheaters`); an item's true result is
`cheaters.truth(index)`, and two results agree when they are equal. Every result the schedule
takes, and every answer to a spot check, is counted here (`TrustTally`): in the job's work
units, the results returned beyond one an item and the spot checks are what verification cost
(`replicated_share`: over the whole job, over the first tenth of the items to be answered, and
over the items answered after the first half was, with the spot checks answered meanwhile). A
result counts as committed only once verification accepts it; it is wrong when it differs from
the truth. `Verifying` drives the hub's own verifier (`scheduling.verifier`) as the dispatcher
does: the simulator has no verification policy of its own.

Pure: virtual time passed in; randomness from the run's seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from witengine.scheduling.verification import Answer, VerificationSettings
from witengine.scheduling.verifier import Action, Step, Verifier

if TYPE_CHECKING:
    from witengine.scheduling.simulation_loop import EventLoop

__all__ = ["TrustReport", "TrustTally", "Verifying"]

_MAP = "map_simulated"  # the one map a simulation runs


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


class Verifying:
    """The hub's verification of untrusted nodes' results in the simulator: the same pure state
    machine (`scheduling.verifier.Verifier`) driven as the dispatcher's shell drives it
    (`hub/dispatch/verifying.py`), with comparisons by equality, done at once.

    A result the schedule said to COMMIT goes to the verifier, and the simulator does what it
    says: commit it, hold it (a reliable node's, until the map has nothing else to wait for),
    compare it, reopen its item as a replica for other owners, commit the agreed value and
    catch the nodes that disagreed (blocked, their batches recalled, their held results
    reopened). Some batches of an untrusted node carry a spot check, placed at random among
    the others as the dispatcher places it, checked against the committed value and never
    shown to the schedule.
    """

    def __init__(
        self, loop: EventLoop, activity: str, settings: VerificationSettings, seed: int
    ) -> None:
        self.loop = loop
        self.activity = activity
        self.verifier = Verifier(settings, random.Random(seed))
        self.placing = random.Random(seed)  # where a spot check goes in its batch
        self.numbers = {node.spec.id: k for k, node in enumerate(loop.nodes)}
        self.values: dict[int, int] = {}  # the committed value of each item
        self.failure: tuple[int, str] | None = None  # an item no quorum could settle

    def blocked(self, k: int) -> bool:
        spec = self.loop.nodes[k].spec
        return not spec.trusted and self.verifier.book.blocked(spec.id, self.activity)

    # ------------------------------------------------------------------ answers

    def answered(self, k: int, index: int, value: int) -> None:
        """The schedule said to commit node k's result for item `index`."""
        spec = self.loop.nodes[k].spec
        key = (_MAP, index)
        verifier = self.verifier
        if spec.trusted and verifier.settles(key):
            self.commit(index, value)
            return
        answer = Answer(spec.id, spec.owner or spec.id, spec.trusted, value)
        step: Step | None = verifier.answered(key, self.activity, answer)
        if step is not None and step.action is Action.COMMIT:
            self.commit(index, value)
            return
        while step is not None and step.action is Action.COMPARE:
            representatives = verifier.representatives(key)
            if representatives is None:
                return
            agrees = [first.value == value for first in representatives]
            step = verifier.compared(key, answer, representatives, agrees)
        if step is not None:
            self.carry_out(index, step)
        self.release_if_done()

    def carry_out(self, index: int, step: Step) -> None:
        """Do what the verifier decided about an answer to item `index`."""
        loop = self.loop
        if step.action is Action.REPLICATE:
            loop.schedule.reopen(index, step.owners, loop.now)
        elif step.action is Action.FAIL:
            self.failure = (index, step.reason)
            for (_, reopened), owners in step.reopen:
                loop.schedule.reopen(reopened, owners, loop.now)
        elif step.action is Action.ACCEPT:
            assert step.answer is not None
            self.commit(index, step.answer.value)
            for wrong in step.wrong:
                if not self.verifier.book.blocked(wrong.node_id, self.activity):
                    self.caught(self.numbers[wrong.node_id])

    def commit(self, index: int, value: int) -> None:
        self.values[index] = value
        self.loop.accept(index, value)

    def release_if_done(self) -> None:
        """The map has nothing left to wait for but results held unchecked: commit them."""
        if not self.loop.schedule.done:
            return
        for (_, index), answer in self.verifier.release(_MAP):
            self.commit(index, answer.value)

    # ------------------------------------------------------------------ consequences

    def caught(self, k: int, *, spot: bool = False) -> None:
        """Node k was caught wrong: blocked, its batches called back, its results held
        unchecked reopened for other owners."""
        loop = self.loop
        spec = loop.nodes[k].spec
        reopen = self.verifier.caught(spec.id, spec.owner or spec.id, self.activity, spot=spot)
        assert loop.trust is not None
        loop.trust.caught.add(k)
        schedule, now = loop.schedule, loop.now
        for batch_id in schedule.cancel_node(spec.id):
            schedule.batch_ended(batch_id, now)
            loop.cancel(batch_id)
        for (_, index), owners in reopen:
            schedule.reopen(index, owners, now)
        loop.wake()

    # ------------------------------------------------------------------ spot checks

    def spot_check(self, k: int, indices: tuple[int, ...]) -> tuple[int, ...]:
        """The items node k runs for a batch of `indices`: maybe one more, a spot check (an
        item verified by others, whose value is known), placed at random among them."""
        spec = self.loop.nodes[k].spec
        if spec.trusted:
            return indices
        owner = spec.owner or spec.id
        index = self.verifier.spot_check(spec.id, owner, _MAP, self.activity, self.values)
        if index is None:
            return indices
        at = self.placing.randrange(len(indices) + 1)
        return (*indices[:at], index, *indices[at:])

    def spot_answered(self, k: int, index: int, value: int) -> bool:
        """Whether node k's result answers a spot check (then it is checked here)."""
        spec = self.loop.nodes[k].spec
        found, _ = self.verifier.spot_answered(spec.id, _MAP, index)
        if not found:
            return False
        agreed = self.values[index] == value
        if not self.verifier.spot_checked(spec.id, self.activity, agreed):
            self.caught(k, spot=True)
        return True
