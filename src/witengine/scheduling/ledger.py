"""The ledger every strategy keeps: which items are committed, which batches are out on which
nodes under which lease, which items are out twice, which failed where, and the active nodes'
rates. Strategies (`planners/`) decide only what a requesting node gets and where returned items
go; everything else about a map's schedule is here, once.

Costs: a request, a result or a heartbeat is O(1) plus the items it touches, and O(log batches)
when it looks for the batch predicted to finish last (`finishes`); a batch ending is O(its
items); `expire` is O(log batches) per batch it finds due (`deadlines`); a node's first result
changes the guess every node without a rate is planned at in O(1); `remaining_seconds` is
O(log batches) (the finish index, and a running sum of the batches' spare work);
`candidates_changed` O(nodes). Pure: time is the `now` each call passes.

Replicas (see `core`): an item reopened to verify the answers it has goes out again only to a
node whose owner answered none of them. They wait in their own queue, served before the
strategy's work to the nodes that may take them; a replica's batch that ends unfinished puts it
back there, so leases, expiries and lost nodes treat it as any item, and the ETA counts it.

Availability (see `core`): what the ledger knows of the nodes' owners is in `owners`; it plans a
node on probation at a discount, tells the strategies how much work fits before a node's window
closes (`_room`), and lets the batches of a node that left the candidates stall from the moment
it left.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from witengine.scheduling.blocklist import Blocklist
from witengine.scheduling.core import (
    Candidate,
    Grant,
    MapSchedule,
    Outcome,
    ScheduleSnapshot,
    Verdict,
)
from witengine.scheduling.deadlines import Deadlines
from witengine.scheduling.finishes import FinishIndex, Latest, predicted_end
from witengine.scheduling.owners import OwnerFacts
from witengine.scheduling.rates import RateModel
from witengine.scheduling.settings import SchedulerSettings

STALL_ITEMS = 3.0  # a batch silent for this many items' predicted time may be stalled
_REPLICAS_PASSED = 64  # a request looks past at most this many replicas it may not take

_COMMIT = Outcome(Verdict.COMMIT)
_IGNORE = Outcome(Verdict.IGNORE)
_RETRY = Outcome(Verdict.RETRY)
_FAIL = Outcome(Verdict.FAIL)


@dataclass(frozen=True)
class MapContext:
    """What a map's schedule shares with its farm."""

    job_id: str
    activity: str
    plugin: str
    settings: SchedulerSettings
    rates: RateModel
    blocklist: Blocklist
    map_number: int  # unique in the farm: batch ids carry it


@dataclass(slots=True, eq=False)
class Batch:
    """Items out on one node under one lease."""

    id: str
    serial: int  # the order batches were granted in
    node_id: str
    indices: tuple[int, ...]  # in the order the node runs them
    open: set[int]  # items without a result from this batch that still need one
    lease_seconds: float
    duplicate: bool
    spare_work: float  # work of the open items this batch is the newest copy of
    progress_at: float  # when it was granted, or its last result arrived
    pace: float  # seconds per item predicted at the grant
    reported: int = 0  # results received from it


class Ledger(MapSchedule):
    """The state every strategy shares; subclasses implement `_take` and `_return`."""

    def __init__(
        self,
        context: MapContext,
        work: Sequence[float],
        candidates: Sequence[Candidate],
        now: float,
        max_nodes: int | None = None,
    ) -> None:
        self.count = len(work)
        self._context = context
        self._settings = context.settings
        self._work = list(map(float, work))
        self._total_work = math.fsum(self._work)  # NaN or inf if any item's is
        if self._work and not (min(self._work) >= 0.0 and math.isfinite(self._total_work)):
            raise ValueError("every item's work must be a finite number >= 0")
        self._max_nodes = max_nodes
        self._committed = bytearray(self.count)
        self._done_count = 0
        self._batches: dict[str, Batch] = {}
        self._by_node: dict[str, dict[str, Batch]] = {}
        self._deadlines: Deadlines[Batch] = Deadlines()  # the batches' leases, by serial
        self._finishes: FinishIndex[Batch] = FinishIndex()  # batches with spare work, by serial
        self._moved: set[Batch] = set()  # batches whose predicted end the index may not know
        self._spare = 0.0  # the batches' spare work, summed as it changes (for the ETA)
        # Items out on two or more batches, oldest copy first. The newest copy of an item is
        # the one expected to finish it first (a copy is made only when it would), so the item
        # counts in that batch's spare work only.
        self._shared: dict[int, list[Batch]] = {}
        self._failed_on: dict[int, set[str]] = {}
        self._failures: dict[int, int] = {}
        self._failure: tuple[int, str] | None = None
        self._known: dict[str, int] = {}  # nodes able to run the map -> slots
        self._slots: dict[str, int] = {}  # the active ones (within max_nodes) -> slots
        self._speed: dict[str, float] = {}  # planning rate of every node met (but guessed ones)
        # Active nodes with no rate known are all planned at one guess, the slowest known rate:
        # when it changes (a node is measured for the first time), the capacity moves at once.
        self._guessed: dict[str, None] = {}
        self._guess = 0.0
        self._guessed_slots = 0
        self._guess_moved = False  # since the finish index was last told
        self._capacity = 0.0  # sum of active nodes' rate x slots
        self._stopped: set[str] = set()
        self._owner_of: dict[str, str] = {}  # node -> who answers for its results
        self._excluded: dict[int, frozenset[str]] = {}  # reopened item -> owners it avoids
        self._replicas: deque[int] = deque()  # reopened items waiting for a node
        self._replica_work = 0.0
        settings = context.settings
        self._owners = OwnerFacts(settings.suspended_discount, settings.proof_seconds)
        self._serial = 0
        self._now = now
        limit = context.settings.duplicate_limit
        self._duplicate_budget = max(1, int(limit * self.count)) if limit > 0 else 0
        self._duplicates_granted = 0
        self._known = self._eligible_of(candidates)
        self._learn(candidates)
        self._refresh_active(now, notify=False)

    # ------------------------------------------------------------- the protocol

    def candidates_changed(self, candidates: Sequence[Candidate], now: float) -> None:
        self._now = max(self._now, now)
        before = self._known
        self._known = self._eligible_of(candidates)
        owners = self._owners
        for node_id in before:
            if node_id not in self._known:
                owners.left(node_id, now)
                self._moved.update(self._by_node.get(node_id, {}).values())
        for node_id in self._known:
            if owners.back(node_id):
                self._moved.update(self._by_node.get(node_id, {}).values())
        self._learn(candidates)
        self._refresh_active(now)

    def request(self, node: Candidate, now: float) -> Grant | None:
        self._now = max(self._now, now)
        if self._failure is not None or self._done_count == self.count:
            return None
        node_id = node.id
        self._owner_of[node_id] = node.owner or node_id
        told = node.window_end is not None or node.suspended_at is not None
        if told and self._learn((node,)) and node_id in self._slots:
            self._refresh_active(now)  # put on probation: its planning rate drops
        if node_id not in self._slots:
            if node_id in self._known and self._replicas and self._eligible(node_id):
                # Beyond max_nodes, but a replica may need an owner none of the active have.
                return self._take_replicas(node_id, now, self._room(node_id, now))
            if node_id in self._known or not self._eligible(node_id):
                return None  # beyond max_nodes, drained or blocklisted
            self._known[node_id] = node.slots  # asked before the driver said it joined
            if self._owners.back(node_id):
                self._moved.update(self._by_node.get(node_id, {}).values())
            self._learn((node,))
            self._refresh_active(now)
            if node_id not in self._slots:
                return None
        elif self._blocked(node_id):  # blocklisted by another map of the job
            self._remove(node_id, now)
            return None
        room = self._room(node_id, now)
        if self._replicas:
            grant = self._take_replicas(node_id, now, room)
            if grant is not None:
                return grant
        return self._take(node, now, room)

    def heartbeat(self, batch_id: str, now: float) -> None:
        self._now = max(self._now, now)
        batch = self._batches.get(batch_id)
        if batch is not None:
            self._deadlines.extend(batch.serial, now + batch.lease_seconds)

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
        self._now = max(self._now, now)
        batch = self._batches.get(batch_id)
        if batch is None or index not in batch.open or self._failure is not None:
            return _IGNORE
        batch.open.remove(index)
        batch.reported += 1
        batch.progress_at = now
        self._moved.add(batch)
        weight = self._work[index]
        holders = self._shared.get(index)
        if holders is None:
            batch.spare_work -= weight
            self._spare -= weight
        if ok:
            if self._owners.on_probation(batch.node_id):
                self._prove(batch.node_id, weight, seconds)
            if seconds > 0.0:
                self._observe(batch.node_id, weight, seconds)
            return self._commit(batch, index, holders)
        if final:
            self._failure = (index, error or "failed without a message")
            return _FAIL
        return self._failed(batch, index, holders, error or "failed without a message", now)

    def batch_ended(self, batch_id: str, now: float) -> None:
        self._now = max(self._now, now)
        batch = self._batches.get(batch_id)
        if batch is not None:
            self._drop(batch, now)

    def node_lost(self, node_id: str, now: float) -> list[str]:
        self._now = max(self._now, now)
        self._remove(node_id, now)
        self._owners.back(node_id)  # gone, rather
        batches = list(self._by_node.get(node_id, {}).values())
        for batch in batches:
            self._drop(batch, now)
        return [batch.id for batch in batches]

    def expire(self, now: float) -> list[str]:
        self._now = max(self._now, now)
        expired = self._deadlines.due(now)
        for batch in expired:
            self._drop(batch, now)
        return [batch.id for batch in expired]

    def cancel_node(self, node_id: str) -> list[str]:
        self._stopped.add(node_id)
        self._remove(node_id, self._now)
        return list(self._by_node.get(node_id, {}))

    def reopen(self, index: int, owners: Collection[str], now: float) -> None:
        self._now = max(self._now, now)
        if not self._committed[index] or self._failure is not None:
            raise ValueError(f"item {index} is not committed: only a committed item reopens")
        self._committed[index] = 0
        self._done_count -= 1
        self._excluded[index] = frozenset(owners)
        self._replicas.append(index)
        self._replica_work += self._work[index]

    def may_run(self, index: int, node_id: str) -> bool:
        """Whether the node may be given item `index`: a replica goes only to other owners."""
        excluded = self._excluded.get(index)
        return excluded is None or self._owner_of.get(node_id, node_id) not in excluded

    def replicas_waiting(self) -> dict[int, frozenset[str]]:
        """Reopened items waiting for a node, and the owners each may not go to."""
        return {index: self._excluded[index] for index in self._replicas}

    @property
    def done(self) -> bool:
        return self._done_count == self.count

    @property
    def failure(self) -> tuple[int, str] | None:
        return self._failure

    def remaining_seconds(self, now: float) -> float | None:
        if self.done:
            return 0.0
        if self._capacity <= 0.0:
            return None
        last = self._last_end(now)
        pending = self._pending_work() + self._replica_work
        spread = (pending + max(0.0, self._spare)) / self._capacity
        return max((now if last is None else max(last, now)) - now, spread)

    def snapshot(self) -> ScheduleSnapshot:
        committed = frozenset(i for i in range(self.count) if self._committed[i])
        return ScheduleSnapshot(
            committed=committed,
            pending=frozenset(self._pending_items()).union(self._replicas),
            out={b.id: frozenset(b.open) for b in self._batches.values()},
            duplicates_granted=self._duplicates_granted,
            duplicate_budget=self._duplicate_budget,
        )

    def _take_replicas(self, node_id: str, now: float, room: float) -> Grant | None:
        """Replicas the node may run (its owner answered none of them): about what Adaptive
        would give it of them, within its window's room; never two items one owner answered
        (a node that copied one item's result to another in its batch would find a second
        copier handed the same run, and the two would agree). Costs the items taken and those
        passed over, not the queue: those passed over go back to its front, in order."""
        owner = self._owner_of.get(node_id, node_id)
        speed = self._speed_of(node_id)
        share = self._replica_work / 2.0 * speed / max(self._capacity, speed)
        target = min(max(share, self._settings.min_batch_seconds * speed), room)
        taken: list[int] = []
        total = 0.0
        passed: list[int] = []
        answered: set[str] = set()  # owners that answered an item taken
        work, excluded = self._work, self._excluded
        replicas = self._replicas
        while replicas and len(passed) < _REPLICAS_PASSED:
            index = replicas[0]
            weight, owners = work[index], excluded[index]
            if owner in owners or total + weight > room or not answered.isdisjoint(owners):
                passed.append(replicas.popleft())
                continue
            if taken and total + weight > target:
                break
            replicas.popleft()
            taken.append(index)
            answered.update(owners)
            total += weight
            if total >= target:
                break
        replicas.extendleft(reversed(passed))
        if not taken:
            return None
        self._replica_work = self._replica_work - total if replicas else 0.0
        return self._grant(node_id, taken, total, now)

    def _requeue(self, indices: list[int], now: float) -> None:
        """Items to schedule again: replicas to their own queue, the rest to the strategy."""
        if not self._excluded:
            self._return(indices, now)
            return
        fresh = []
        for index in indices:
            if index in self._excluded:
                self._replicas.append(index)
                self._replica_work += self._work[index]
            else:
                fresh.append(index)
        if fresh:
            self._return(fresh, now)

    # --------------------------------------------------------- for the strategies

    def _take(self, node: Candidate, now: float, room: float) -> Grant | None:
        """Work for an active, unblocked node with a free slot, at most `room` work units (what
        fits before its window closes; infinite without a window)."""
        raise NotImplementedError

    def _return(self, indices: list[int], now: float) -> None:
        """Items no batch holds any more and none committed: schedule them again."""
        raise NotImplementedError

    def _retry(self, index: int, now: float) -> None:
        """An item that failed on a node: schedule it again, elsewhere if possible."""
        self._return([index], now)

    def _pending_items(self) -> list[int]:
        raise NotImplementedError

    def _pending_work(self) -> float:
        raise NotImplementedError

    def _candidates_left(self, node_ids: list[str], now: float) -> None:
        """Active nodes that are no longer: a strategy that planned on them re-plans."""

    def _candidates_joined(self, node_ids: list[str], now: float) -> None:
        """Nodes that became active."""

    def _grant(
        self, node_id: str, indices: list[int], work: float, now: float, *, duplicate: bool = False
    ) -> Grant:
        """Put a batch out on a node; a duplicate's items are shared by the caller after."""
        self._serial += 1
        batch_id = f"{self._settings.batch_prefix}_{self._context.map_number}_{self._serial}"
        predicted = work / self._speed_of(node_id)
        lease = self._settings.lease_for(predicted)
        indices_tuple = tuple(indices)
        batch = Batch(
            batch_id,
            self._serial,
            node_id,
            indices_tuple,
            set(indices_tuple),
            lease,
            duplicate,
            0.0 if duplicate else work,
            now,
            predicted / max(1, len(indices)),
        )
        self._batches[batch_id] = batch
        self._by_node.setdefault(node_id, {})[batch_id] = batch
        self._deadlines.add(batch.serial, batch, now + lease)
        self._moved.add(batch)
        self._spare += batch.spare_work
        if duplicate:
            self._duplicates_granted += len(indices)
        return Grant(batch_id, node_id, indices_tuple, lease, duplicate, predicted)

    def _share(self, index: int, holder: Batch, copy: Batch) -> None:
        """Item `index`, of which `holder` is the newest copy, is now also out in `copy`."""
        holders = self._shared.get(index)
        if holders is None:
            self._shared[index] = [holder, copy]
        else:
            holders.append(copy)
        weight = self._work[index]
        holder.spare_work -= weight
        copy.spare_work += weight
        self._moved.update((holder, copy))

    def _newest(self, index: int, batch: Batch) -> bool:
        """Whether `batch` is the newest copy of open item `index` (the one counting it)."""
        holders = self._shared.get(index)
        return holders is None or holders[-1] is batch

    def _unshare(self, index: int, holders: list[Batch], batch: Batch) -> None:
        """`batch` no longer holds shared item `index`; the newest remaining copy counts it."""
        newest = holders[-1]
        holders.remove(batch)
        if newest is batch:
            weight = self._work[index]
            batch.spare_work -= weight
            holders[-1].spare_work += weight
            self._moved.update((batch, holders[-1]))
            if batch.id not in self._batches:  # its spare work left the sum when it ended
                self._spare += weight
        if len(holders) == 1:
            del self._shared[index]

    def _speed_of(self, node_id: str) -> float:
        if node_id in self._guessed:
            return self._guess
        speed = self._speed.get(node_id)
        if speed is None:
            rate = self._context.rates.rate(node_id, self._context.activity)
            speed = self._speed[node_id] = self._owners.planning(node_id, rate)
        return speed

    def _room(self, node_id: str, now: float) -> float:
        """The work the node's next batch may hold: what its rate does between the batch's
        start (now, or when the first of its batches ends if each of its slots has one) and
        the end of its window."""
        end = self._owners.window_end(node_id)
        if end is None:
            return math.inf
        start = now
        held = self._by_node.get(node_id)
        if held and len(held) >= self._known.get(node_id, 1):
            start = max(start, min(self._predicted_end(b, now) for b in held.values()))
        start += self._settings.dispatch_overhead
        return max(0.0, (end - start) * self._speed_of(node_id))

    def _predicted_end(self, batch: Batch, now: float) -> float:
        """When the batch's node should be done with the work only it holds, seen at `now`: a
        batch already late is assumed to need all of it from now on."""
        return predicted_end(*self._end_and_needed(batch), now)

    def _end_and_needed(self, batch: Batch) -> tuple[float, float]:
        """When the batch's node should be done with the work only it holds, and the seconds
        that work needs."""
        needed = batch.spare_work / self._speed_of(batch.node_id)
        return batch.progress_at + needed, needed

    def _latest(self, now: float, skip: str) -> Latest[Batch] | None:
        """The batch with spare work predicted to finish last, a stalled one (no result for
        much longer than an item should take: its node may be frozen or dead) before any
        other, leaving out the batches of node `skip`; O(log batches) amortized."""
        return self._told_finishes().latest(now, skip)

    def _last_end(self, now: float) -> float | None:
        """The latest predicted end of a batch with spare work; O(log batches) amortized."""
        return self._told_finishes().last_end(now)

    def _told_finishes(self) -> FinishIndex[Batch]:
        """The finish index, told of every batch whose predicted end moved."""
        finishes = self._finishes
        stall_extra = self._settings.min_batch_seconds
        self._guess_told()
        owners = self._owners
        for batch in self._moved:
            if batch.spare_work > 0.0:
                end, needed = self._end_and_needed(batch)
                stall_at = batch.progress_at + (STALL_ITEMS * batch.pace + stall_extra)
                stall_at = min(stall_at, owners.absent_since(batch.node_id, stall_at))
                finishes.put(
                    batch.serial, batch, batch.node_id, end=end, needed=needed, stall_at=stall_at
                )
            else:
                finishes.remove(batch.serial)
        self._moved.clear()
        return finishes

    def _guess_told(self) -> None:
        """The batches of nodes planned at a guess that changed count as moved."""
        if self._guess_moved:
            self._guess_moved = False
            for node_id in self._guessed:
                self._moved.update(self._by_node.get(node_id, {}).values())

    def _idle(self, node_id: str) -> bool:
        return not self._by_node.get(node_id)

    # ----------------------------------------------------------------- internals

    def _learn(self, candidates: Sequence[Candidate]) -> bool:
        """Take in the candidates' windows and suspensions; whether a node was put on probation
        (its planning rate moves at the next `_refresh_active`)."""
        learn = self._owners.learn
        doubted = False
        owner_of = self._owner_of
        for candidate in candidates:
            owner_of[candidate.id] = candidate.owner or candidate.id
            doubted |= learn(candidate.id, candidate.window_end, candidate.suspended_at)
        return doubted

    def _prove(self, node_id: str, work: float, seconds: float) -> None:
        """A node on probation delivered a result: planned at its rate once it delivered enough."""
        rate = self._context.rates.rate(node_id, self._context.activity)
        if seconds <= 0.0:  # not measured: what the work takes at its rate
            seconds = work / max(rate, 1e-12)
        proven = self._owners.delivered(node_id, seconds)
        if proven and node_id not in self._guessed:
            self._set_speed(node_id, rate)

    def _eligible(self, node_id: str) -> bool:
        return node_id not in self._stopped and not self._blocked(node_id)

    def _blocked(self, node_id: str) -> bool:
        context = self._context
        return context.blocklist.blocked(context.job_id, node_id, context.plugin)

    def _eligible_of(self, candidates: Sequence[Candidate]) -> dict[str, int]:
        """The candidates that may run the map (not drained from it, not blocklisted) -> slots."""
        context = self._context
        blocked = context.blocklist.pairs(context.job_id)
        excluded = self._stopped.union(n for n, plugin in blocked if plugin == context.plugin)
        return {w.id: w.slots for w in candidates if w.id not in excluded}

    def _refresh_active(self, now: float, *, notify: bool = True) -> None:
        """Recompute the active nodes (the fastest `max_nodes` of the known ones) and their
        total capacity; tell the strategy who left and who joined."""
        rates, activity, speeds = self._context.rates, self._context.activity, self._speed
        self._guess_told()
        speeds.update(dict.fromkeys(self._guessed, self._guess))  # a node gone keeps it
        planned, unknown = rates.planned(self._known, activity)
        if self._owners.doubting:
            for node_id in self._owners.doubted(planned.keys() - set(unknown)):
                planned[node_id] = self._owners.planning(node_id, planned[node_id])
        for node_id in [n for n, rate in planned.items() if speeds.get(n) != rate]:
            self._moved.update(self._by_node.get(node_id, {}).values())
        speeds.update(planned)
        chosen = self._known
        if self._max_nodes is not None and len(chosen) > self._max_nodes:
            closed = self._owners.closed  # a node whose window has closed comes last

            def rank(node_id: str) -> tuple[bool, float, str]:
                return closed(node_id, now), -self._speed[node_id], node_id

            fastest = sorted(chosen, key=rank)[: self._max_nodes]
            chosen = {n: chosen[n] for n in fastest}
        left = [n for n in self._slots if n not in chosen]
        joined = [n for n in chosen if n not in self._slots]
        self._slots = dict(chosen)
        self._capacity = sum(self._speed[n] * s for n, s in self._slots.items())
        self._guessed = {n: None for n in unknown if n in self._slots}
        self._guessed_slots = sum(self._slots[n] for n in self._guessed)
        self._guess = rates.guess(activity) if self._guessed else 0.0
        if notify and left:
            self._candidates_left(left, now)
        if notify and joined:
            self._candidates_joined(joined, now)

    def _remove(self, node_id: str, now: float) -> None:
        """The node can no longer run the map: with `max_nodes`, the next fastest takes its
        place."""
        self._known.pop(node_id, None)
        if self._max_nodes is not None:
            self._refresh_active(now)
        else:
            self._deactivate(node_id, now)

    def _deactivate(self, node_id: str, now: float) -> None:
        slots = self._slots.pop(node_id, None)
        if slots is None:
            return
        if node_id in self._guessed:  # its speed stays the guess of now
            del self._guessed[node_id]
            self._guessed_slots -= slots
            self._speed[node_id] = self._guess
            self._moved.update(self._by_node.get(node_id, {}).values())
        self._capacity = max(0.0, self._capacity - self._speed[node_id] * slots)
        if not self._slots:
            self._capacity = 0.0
        self._candidates_left([node_id], now)

    def _observe(self, node_id: str, work: float, seconds: float) -> None:
        context = self._context
        first = not context.rates.known(node_id, context.activity)
        rate = context.rates.observe(node_id, context.activity, work, seconds)
        self._set_speed(node_id, self._owners.planning(node_id, rate))
        if first:
            self._reguess()

    def _set_speed(self, node_id: str, rate: float) -> None:
        if node_id in self._guessed:
            old: float | None = self._guess
            del self._guessed[node_id]
            self._guessed_slots -= self._slots[node_id]
            self._moved.update(self._by_node.get(node_id, {}).values())  # the guess may have moved
        else:
            old = self._speed.get(node_id)
        self._speed[node_id] = rate
        if rate != old:
            self._moved.update(self._by_node.get(node_id, {}).values())
        slots = self._slots.get(node_id)
        if slots is not None and old is not None:
            self._capacity += (rate - old) * slots

    def _reguess(self) -> None:
        """A node's rate became known: the nodes still planned at a guess (no benchmark, no
        result yet) take the new guess, the slowest known rate. Planned at the 1 unit/s
        guessed before any rate was known, they counted for nothing in the shares, and the
        first node measured was handed half the map. O(1): they share one guess."""
        guess = self._context.rates.guess(self._context.activity)
        if not self._guessed or guess == self._guess:
            return
        self._capacity += (guess - self._guess) * self._guessed_slots
        self._guess = guess
        self._guess_moved = True

    def _commit(self, batch: Batch, index: int, holders: list[Batch] | None) -> Outcome:
        self._committed[index] = 1
        self._done_count += 1
        if self._excluded:
            self._excluded.pop(index, None)
        if holders is None and (batch.open or batch.reported == len(batch.indices)):
            return _COMMIT
        cancel: list[str] = []
        if holders is not None:
            del self._shared[index]
            holders[-1].spare_work -= self._work[index]
            self._spare -= self._work[index]
            self._moved.add(holders[-1])
            for other in holders:
                if other is batch:
                    continue
                other.open.discard(index)
                if not other.open:  # everything it still runs was won elsewhere
                    self._forget(other)
                    cancel.append(other.id)
        if not batch.open and batch.reported < len(batch.indices):
            self._forget(batch)  # its remaining items were won by copies elsewhere
            cancel.append(batch.id)
        return Outcome(Verdict.COMMIT, tuple(cancel)) if cancel else _COMMIT

    def _failed(
        self, batch: Batch, index: int, holders: list[Batch] | None, error: str, now: float
    ) -> Outcome:
        context = self._context
        node_id = batch.node_id
        failed_on = self._failed_on.setdefault(index, set())
        failed_on.add(node_id)
        self._failures[index] = self._failures.get(index, 0) + 1
        newly_blocked = context.blocklist.failed(context.job_id, node_id, context.plugin)
        if newly_blocked:
            self._remove(node_id, now)
        if len(failed_on) >= self._settings.fail_after_nodes or self._exhausted(index):
            self._failure = (index, error)
            return _FAIL
        if holders is not None:  # another copy is still out: let it run
            self._unshare(index, holders, batch)
        elif index in self._excluded:
            self._requeue([index], now)
        else:
            self._retry(index, now)
        cancel: list[str] = []
        if newly_blocked:
            for other in list(self._by_node.get(node_id, {}).values()):
                self._drop(other, now)
                cancel.append(other.id)
        elif not batch.open and batch.reported < len(batch.indices):
            self._forget(batch)
            cancel.append(batch.id)
        return Outcome(Verdict.RETRY, tuple(cancel)) if cancel else _RETRY

    def _exhausted(self, index: int) -> bool:
        """The item failed often enough and on every node still able to run it."""
        if self._failures[index] < self._settings.fail_after_nodes:
            return False
        failed_on = self._failed_on[index]
        return all(node_id in failed_on for node_id in self._slots)

    def _drop(self, batch: Batch, now: float) -> None:
        """The batch is over: its open items nobody else holds are scheduled again."""
        self._forget(batch)
        back: list[int] = []
        shared = self._shared
        for index in batch.indices:
            if index not in batch.open:
                continue
            holders = shared.get(index)
            if holders is None:
                back.append(index)
            else:
                self._unshare(index, holders, batch)
        batch.open.clear()
        if back:
            self._requeue(back, now)

    def _forget(self, batch: Batch) -> None:
        if self._batches.pop(batch.id, None) is not None:
            self._spare = self._spare - batch.spare_work if self._batches else 0.0
        self._deadlines.remove(batch.serial)
        self._finishes.remove(batch.serial)
        self._moved.discard(batch)
        mine = self._by_node.get(batch.node_id)
        if mine is not None:
            mine.pop(batch.id, None)
            if not mine:
                del self._by_node[batch.node_id]
