"""The seam between the scheduler and those who drive it: the hub's dispatcher and the simulator.

Everything here is pure: no I/O, no clock reading, no sleeping. Time is passed in as `now`
(seconds, any origin). One `MapSchedule` holds the items of one distributed map (one
`Grid.ForEach`) and every batch of them out on nodes; the `Scheduler` (`scheduling.scheduler`)
holds what outlives a map: the rate model and the blocklists. The driver tells the schedule what
happens (a node asks for work, a result arrives, a lease runs out, a node is lost) and carries
out what it answers (send a batch, cancel a batch, fail the map).

Units: every activity measures work in one unit (such as `compute-units@1` or
`pixel-samples@1`); an item's `work` is its estimate in that unit, and a node's rate is units per
second for that activity, per slot. Rates come from benchmarks first and from measured
throughput after: `scheduler.rates.benchmark(node, activity, rate)` seeds one, and every ok result's
`seconds` corrects it.

The driver's protocol, in order:

    schedule = scheduler.schedule(job_id, activity, plugin, work, strategy, candidates, now=now)
    schedule.candidates_changed(candidates, now)       # nodes able to run it joined or left
    grant = schedule.request(node, now)         # a node has a free slot: maybe a Grant
    schedule.heartbeat(grant.batch_id, now)      # the node is alive and working on it
    outcome = schedule.result(batch_id, index, ok=True, seconds=…, now=now)
    outcome = schedule.result(batch_id, index, ok=False, error="…", now=now)
    schedule.batch_ended(batch_id, now)          # the node finished or dropped a batch
    schedule.node_lost(node_id, now)             # the node died, left, or froze past its lease
    schedule.expire(now)                         # every tick: batches whose lease ran out
    schedule.reopen(index, owners, now)          # a committed item needs another answer
    schedule.done / schedule.failure             # finished, or failed with (index, error)
    scheduler.job_ended(job_id)                  # the job is over: forget its blocklist

Every `Outcome.cancel` names batches the schedule has already dropped: the driver sends their
nodes a cancel, and any later result from them is IGNOREd. `request` answers None when the node
should do nothing now (nothing suitable, blocklisted, drained); ask again when something changes
(a result, a lost node, an expiry) or on the next tick: near the end an idle node may be given a
duplicate of work predicted to finish last.

A lease runs `Grant.lease_seconds` from the grant, and each heartbeat extends it to `now` plus
that again; it comes from the batch's predicted time with a safety factor, within the farm's
minimum and maximum lease.

A failed result is RETRY (the item goes out again, to a node that has not failed it first) until
the item has failed on `fail_after_nodes` distinct nodes, or that many times with no active node
left that has not failed it: then FAIL, and the map fails with that item's error. A (node,
plugin) pair that fails `blocklist_after` items in a job gets none of the job's work after; its
batches in this map are dropped and named in that result's `cancel`.

Availability: a node lent by its owner reports when its current window of work closes, and the
driver passes it as `Candidate.window_end`, on the clock of `now`. No batch is planned to run
past it: a node with 20 minutes left gets at most 20 minutes of work at its rate (after the
batches it already holds, when every slot has one), and nothing when not even the next item
fits. `Candidate.suspended_at` says its owner came back at that time (its work was frozen): such
a node is planned at `suspended_discount` of its rate until it has delivered `proof_seconds` of
results since then, so it is handed less of what it may freeze again. A node that holds batches
and is no longer among the candidates (suspended, out of its window, drained) is not counted on
to finish them: its batches count as stalled from the moment it left, so near the end of the
map an idle node duplicates them first. The facts of the last `candidates_changed` hold until
the next; a `request` whose candidate carries either fact updates them.

Replicas: results from untrusted nodes are verified (`scheduling.verification`): the driver
holds a result the schedule said to COMMIT and, when it needs another answer, calls `reopen`
with the owners (`Candidate.owner`) that answered the item. The item is then work again, with
one rule more than a failed retry's preference: it goes only to a node whose owner is none of
those, never to the same owner. Its batch is a batch like any other (leases, expiry, lost
nodes), the ETA counts it, and a duplicate of it near the end respects the rule too. While no
node of another owner can take it, it waits (`replicas_waiting`).

Attempt numbers and the exactly-once commit are the driver's (they need the store). A Grant's
`duplicate` batches carry items already out elsewhere: the driver keeps their attempt number so
that either copy's result is valid, and the first result committed wins.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from witengine.scheduling.strategy import Strategy

__all__ = [
    "Candidate",
    "Decision",
    "Grant",
    "MapSchedule",
    "Outcome",
    "ScheduleSnapshot",
    "Strategy",
    "Verdict",
    "uniform_work",
]


@dataclass(frozen=True)
class Candidate:
    """A node that may be given a map's work, as the scheduler sees it: its id, its slots and
    what its owner's policy lets it do (see "Availability" above)."""

    id: str
    slots: int = 1
    window_end: float | None = None  # when its current window of work closes (`now`'s clock)
    suspended_at: float | None = None  # when its owner last came back: it may do so again
    owner: str = ""  # who answers for its results: replicas of an item go to other owners
    trusted: bool = True  # its results count as they come; an untrusted node's are verified


@dataclass(frozen=True)
class Grant:
    """A batch to send: these items of the map, to this node, under a lease."""

    batch_id: str
    node_id: str
    indices: tuple[int, ...]
    lease_seconds: float
    duplicate: bool = False  # every item is also out on another node (speculation near the end)
    predicted_seconds: float = 0.0  # how long the rate model expects the batch to run


class Verdict(enum.Enum):
    COMMIT = "commit"  # the first valid result of the item: commit it
    IGNORE = "ignore"  # settled already, or from a batch no longer current
    RETRY = "retry"  # a failure: the item is tried again (by another node, or the copy still out)
    FAIL = "fail"  # the item failed on too many nodes: the map fails with this error


@dataclass(frozen=True)
class Outcome:
    """What to do about one result."""

    verdict: Verdict
    cancel: tuple[str, ...] = ()  # batches left with nothing useful to do: cancel them


@dataclass
class Decision:
    """Figures the simulator and benchmarks report about the scheduler's own cost."""

    seconds: list[float] = field(default_factory=list)  # CPU time of each `request`


@dataclass(frozen=True)
class ScheduleSnapshot:
    """Where every unfinished item is: for tests, dashboards and post-mortems (costs O(items))."""

    committed: frozenset[int]
    pending: frozenset[int]  # waiting for a node (Balanced: planned but not yet sent)
    out: dict[str, frozenset[int]]  # batch id -> its items still without a result
    duplicates_granted: int  # item copies sent in duplicate batches so far
    duplicate_budget: int  # the most copies the map may send


class MapSchedule:
    """The interface of one map's schedule; each strategy implements it."""

    count: int  # items in the map
    strategy: Strategy

    def candidates_changed(self, candidates: Sequence[Candidate], now: float) -> None:
        """The nodes able to run this map's activity now (joined, left, drained): the rates of
        these are the "active rates" the strategies share work by."""
        raise NotImplementedError

    def request(self, node: Candidate, now: float) -> Grant | None:
        """Work for `node` (it has a free slot), or None: nothing it should do now."""
        raise NotImplementedError

    def heartbeat(self, batch_id: str, now: float) -> None:
        """The batch's node is alive: extend its lease."""
        raise NotImplementedError

    def result(
        self,
        batch_id: str,
        index: int,
        *,
        ok: bool,
        now: float,
        seconds: float = 0.0,
        error: str = "",
        final: bool = False,
    ) -> Outcome:
        """A result for item `index` from batch `batch_id`, which took `seconds` on the node.
        A `final` failure is nobody's to mend by trying again (the hub had no room for the
        item's file): the map fails with it at once, and it counts against no node."""
        raise NotImplementedError

    def batch_ended(self, batch_id: str, now: float) -> None:
        """The node is done with the batch (finished, failed or cancelled): whatever of it has
        no result goes back to the queue."""
        raise NotImplementedError

    def node_lost(self, node_id: str, now: float) -> list[str]:
        """The node is gone: its batches' unfinished items go back to the queue (re-planned on
        the rest); the batches dropped."""
        raise NotImplementedError

    def expire(self, now: float) -> list[str]:
        """Batches whose lease ran out by `now`; their unfinished items go back to the queue."""
        raise NotImplementedError

    def cancel_node(self, node_id: str) -> list[str]:
        """Stop giving the node work in this map (drained or blocklisted); its batches stay and
        are returned, for the driver to recall if it wants them back sooner."""
        raise NotImplementedError

    def reopen(self, index: int, owners: Collection[str], now: float) -> None:
        """Item `index`, committed, needs another answer: it is work again, for a node whose
        owner is none of `owners` (those that answered it). ValueError if it is not committed."""
        raise NotImplementedError

    def may_run(self, index: int, node_id: str) -> bool:
        """Whether item `index` may go to the node (a replica never goes to an owner that
        answered it)."""
        raise NotImplementedError

    def replicas_waiting(self) -> dict[int, frozenset[str]]:
        """Reopened items waiting for a node, and the owners each may not go to."""
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """Every item has its committed result."""
        raise NotImplementedError

    @property
    def failure(self) -> tuple[int, str] | None:
        """The item that failed the map, and its error."""
        raise NotImplementedError

    def remaining_seconds(self, now: float) -> float | None:
        """The predicted time until the map completes, from the rate model (for ETAs)."""
        raise NotImplementedError

    def snapshot(self) -> ScheduleSnapshot:
        """Where every item is now."""
        raise NotImplementedError


def uniform_work(count: int) -> Sequence[float]:
    """Work estimates for a map whose activity declares none: one unit per item."""
    return [1.0] * count
