"""Untrusted nodes in the simulator: what they answer, how their answers are verified, and what
verification cost.

Each untrusted node answers as its `Conduct` says (`cheaters`); an item's true result is
`cheaters.truth(index)`, and two results agree when they are equal. Every result the schedule
takes is counted here (`TrustTally`): in the job's work units, the results returned beyond one
an item are what verification cost (`replicated_share`), and a result counts as committed only
once verification accepts it; it is wrong when it differs from the truth.

Pure: virtual time passed in; randomness from the run's seed.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from witengine.scheduling.core import Outcome, Verdict

__all__ = ["TrustReport", "TrustTally"]


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
    returned: bytearray = field(init=False)  # items with at least one result taken
    committed_at: list[float] = field(init=False)  # when each item's result was accepted
    # Every result taken: (time, work, whether it was its item's first).
    results: list[tuple[float, float, bool]] = field(default_factory=list)
    required: list[float] = field(default_factory=list)  # work of results honest nodes returned
    wrong_returned: int = 0
    wrong_committed: int = 0
    caught: set[int] = field(default_factory=set)  # nodes blocklisted

    def __post_init__(self) -> None:
        self.returned = bytearray(len(self.work))
        self.committed_at = [math.nan] * len(self.work)

    def taken(self, index: int, value: int, right: int, honest: bool, now: float) -> None:
        """The schedule took a result for item `index` (it did not ignore it)."""
        weight = self.work[index]
        first = not self.returned[index]
        self.returned[index] = 1
        self.results.append((now, weight, first))
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
        """The work returned beyond one result an item, over the job's work: over the whole
        job, while its first tenth was committed, and after half of it was."""
        times = sorted(t for t in self.committed_at if not math.isnan(t))
        if not times:
            return 0.0, 0.0, 0.0
        tenth = times[max(0, math.ceil(len(times) / 10) - 1)]
        half = times[max(0, math.ceil(len(times) / 2) - 1)]
        return (
            _share(self.results, -math.inf, math.inf),
            _share(self.results, -math.inf, tenth),
            _share(self.results, half, math.inf),
        )


def _share(results: list[tuple[float, float, bool]], after: float, until: float) -> float:
    """Work of the results beyond their item's first, over the work of the first, for the
    results taken in (after, until]."""
    times = [t for t, _, _ in results]  # results are taken in time order
    low = bisect.bisect_right(times, after)
    high = bisect.bisect_right(times, until)
    first = extra = 0.0
    for _, weight, is_first in results[low:high]:
        if is_first:
            first += weight
        else:
            extra += weight
    return extra / first if first > 0 else 0.0


def verdict_taken(outcome: Outcome) -> bool:
    """Whether the schedule took the result (it did not ignore it)."""
    return outcome.verdict is not Verdict.IGNORE
