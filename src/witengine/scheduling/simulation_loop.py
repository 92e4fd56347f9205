"""The event loop of one simulated map: virtual nodes asking for work, running items, dying,
leaving, and following their owners' policies, in virtual time.

`simulator.Simulation` builds one and runs it; this module owns what happens to a node and when.
Events sit in a heap by time (then by the order they were pushed); an event meant for what a
node was doing before (its epoch moved on: a cancel, a suspension) is stale and skipped.

Availability: a node may follow `shifts`, what its owner's policy lets it do from each moment
on (`office` draws them for a night of an office). RUN: it is a candidate, with the end of its
window; SUSPEND: the owner is back, its batch is frozen (the item in progress keeps what it has
done, its lease is kept alive by heartbeats) and it leaves the candidates; RUN again resumes the
batch where it stopped, the node marked as suspended at the time it was; WAIT: it vacates,
handing back its batch at once (the item in progress is thrown away: `Tally.thrown`) and takes
nothing until its next RUN. Shifts at one moment change the candidates once.

The only real clock read is `time.perf_counter` around each `request`, to report what a
scheduling decision costs.
"""

from __future__ import annotations

import enum
import heapq
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from witengine.errors import WitError
from witengine.scheduling.cheaters import Conduct, Mind, truth
from witengine.scheduling.core import Candidate, Decision, Grant, MapSchedule, Verdict
from witengine.scheduling.simulation_trust import TrustTally, Verifying

if TYPE_CHECKING:
    from witengine.scheduling.simulator import Simulation

_START, _ITEM, _CANCEL, _DEATH, _DETECT, _LEAVE, _TICK, _SHIFT, _CHANGED = range(9)
FIRST_FREE_KIND = 9  # event kinds from here on are a driver's own (`EventLoop.event_handlers`)


class SimulationError(WitError):
    """A schedule broke an invariant in the simulator: an item lost or committed twice."""


class Mode(enum.Enum):
    """What a node's owner policy lets it do."""

    RUN = "run"  # take work and run it
    SUSPEND = "suspend"  # the owner is back: freeze what it holds, take nothing new
    WAIT = "wait"  # hand back what it holds (vacate) and take nothing


@dataclass(frozen=True)
class Shift:
    """From `at` on, the node does `mode`; while it runs, its window closes at `window_end`."""

    at: float
    mode: Mode
    window_end: float | None = None


@dataclass(frozen=True)
class VirtualNode:
    """A simulated node: its true rate, what its benchmark says, when it goes away, and, when it
    is untrusted, who owns it and how it answers."""

    id: str
    rate: float  # true units per second
    benchmark: float | None  # None: the node has no benchmark
    dies_at: float | None = None  # crashes: work in flight lost, noticed late
    leaves_at: float | None = None  # departs: work in flight lost, noticed at once
    shifts: tuple[Shift, ...] = ()  # in time order; none: it always runs, without a window
    owner: str = ""  # who answers for its results ("": itself)
    trusted: bool = True  # False: its results are verified before they count
    conduct: Conduct = Conduct.HONEST  # how it answers (`cheaters`)
    owner_number: int = 0  # its owner's, which a colluder's lie depends on


def lower_bound(nodes: Sequence[VirtualNode], work: Sequence[float]) -> float:
    """No schedule can finish sooner: the work spread over every node's true rate while it is
    there (a node leaving at d contributes rate x min(T, d)), and at least the largest item on
    the fastest node."""
    total = math.fsum(work)
    if total <= 0:
        return 0.0
    cutoffs = sorted((min(n.dies_at or math.inf, n.leaves_at or math.inf), n.rate) for n in nodes)
    done_by_gone = 0.0  # work the nodes gone by T can have done
    rate_left = sum(rate for _, rate in cutoffs)
    spread = math.inf
    for cutoff, rate in cutoffs:
        finish = (total - done_by_gone) / rate_left if rate_left > 0 else math.inf
        if finish <= cutoff:
            spread = finish
            break
        done_by_gone += rate * cutoff
        rate_left -= rate
    largest = max(work) / max(n.rate for n in nodes)
    return max(spread, largest)


@dataclass(slots=True, eq=False)
class _Node:
    spec: VirtualNode
    candidate: Candidate
    alive: bool = True
    present: bool = True  # not departed
    grant: Grant | None = None  # the batch it runs, or is about to start
    tasks: tuple[int, ...] = ()  # the items it runs for it (the grant's, and a spot check)
    position: int = 0  # the item of the grant in progress
    started: float = 0.0  # when that item started
    running: bool = False  # the grant arrived and the node works on it
    epoch: int = 0  # bumped whenever it stops what it was doing: older events are stale
    mode: Mode = Mode.RUN
    due: float = 0.0  # when the item in progress finishes (while it runs)
    frozen: float = 0.0  # suspended: seconds the item in progress had run
    mind: Mind | None = None  # an untrusted node's conduct (None: it answers the truth)


@dataclass
class Tally:
    """What a run did, counted as it goes."""

    committed: bytearray
    runs: bytearray  # times each item started (capped at 255)
    lost: float = 0.0  # work units run but not committed
    decisions: Decision = field(default_factory=Decision)  # every request's seconds
    granted: list[float] = field(default_factory=list)  # … of those that gave work
    batches: int = 0
    last_commit: float = 0.0
    thrown: float = 0.0  # seconds of items in progress that vacating nodes threw away
    suspensions: int = 0  # batches frozen (a node's owner came back)
    resumptions: int = 0  # … and thawed
    vacates: int = 0  # batches handed back
    handed_back: int = 0  # items in them without a result
    trust: TrustTally | None = None  # a farm with untrusted nodes: their results, verified


class EventLoop:
    """The event loop of one run."""

    def __init__(
        self, sim: Simulation, schedule: MapSchedule, nodes: list[_Node], tally: Tally
    ) -> None:
        self.sim = sim
        self.schedule = schedule
        self.nodes = nodes
        self.tally = tally
        self.trust = tally.trust  # the farm has untrusted nodes: their results are verified
        self.verifying: Verifying | None = None  # … so (see `Simulation.execute`)
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.seq = 0
        self.idle: dict[int, None] = {}  # nodes with a free slot and nothing granted
        self.owner: dict[str, int] = {}  # batch id -> node running it
        self.now = 0.0
        self.next_heartbeat = sim.heartbeat_interval
        self.shifted: list[int] = []  # nodes that shifted at `now`, before the candidates change

    def push(self, at: float, kind: int, node: int = -1, epoch: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, node, epoch))

    def loop(self) -> float:
        sim = self.sim
        self.handlers = self.event_handlers()
        self.begin()
        schedule = self.schedule
        limit = 1000.0 * lower_bound(sim.specs, sim.true_work) + 3600.0
        if sim.horizon is not None:
            limit = min(limit, sim.horizon)
        heap = self.heap
        nodes = self.nodes
        while heap and not schedule.done:
            at, _, kind, k, epoch = heapq.heappop(heap)
            self.now = at
            if at > limit:
                raise SimulationError(f"the map stalled: not done after {at:.0f} s")
            if kind == _ITEM:
                if nodes[k].epoch == epoch:
                    self.item_done(k)
            elif kind in (_START, _CANCEL):
                if nodes[k].epoch == epoch:
                    self.start(k) if kind == _START else self.cancelled(k)
            elif kind == _SHIFT:
                self.shift(k, epoch)  # (the shift's number)
            else:
                self.handlers[kind](k)
            if schedule.failure is not None:
                index, error = schedule.failure
                raise SimulationError(f"the map failed on item {index}: {error}")
            if self.verifying is not None and self.verifying.failure is not None:
                index, error = self.verifying.failure
                raise SimulationError(f"the map failed on item {index}: {error}")
        return self.tally.last_commit

    def event_handlers(self) -> dict[int, Callable[[int], None]]:
        """The handlers of the events that carry no epoch, by kind (a driver over this loop
        adds its own kinds, numbered from `FIRST_FREE_KIND`)."""
        return {
            _TICK: self.on_tick,
            _DEATH: self.death,
            _DETECT: self.lost,
            _LEAVE: self.leave,
            _CHANGED: self.shifts_told,
        }

    def begin(self) -> None:
        """The events known from the start; every node asks for work."""
        for k, node in enumerate(self.nodes):
            if node.spec.dies_at is not None:
                self.push(node.spec.dies_at, _DEATH, k)
            if node.spec.leaves_at is not None:
                self.push(node.spec.leaves_at, _LEAVE, k)
            if node.spec.shifts:
                self.push(node.spec.shifts[0].at, _SHIFT, k, 0)
        for k in range(len(self.nodes)):
            self.ask(k)
        self.push(self.sim.tick, _TICK)

    # ------------------------------------------------------------------ node life

    def ask(self, k: int) -> None:
        """Node k has a free slot: ask the schedule for work."""
        node = self.nodes[k]
        if (
            not node.alive
            or not node.present
            or node.grant is not None
            or node.mode is not Mode.RUN
        ):
            return
        verifying = self.verifying
        if verifying is not None and verifying.blocked(k):
            return  # caught wrong: given no more of the activity
        began = time.perf_counter()
        grant = self.schedule.request(node.candidate, self.now)
        self.tally.decisions.seconds.append(time.perf_counter() - began)
        if grant is None:
            self.idle[k] = None
            return
        self.idle.pop(k, None)
        self.tally.batches += 1
        self.tally.granted.append(self.tally.decisions.seconds[-1])
        node.grant = grant
        node.tasks = grant.indices if verifying is None else verifying.spot_check(k, grant.indices)
        node.running = False
        node.epoch += 1  # a cancel meant for an earlier batch must not stop this one
        self.owner[grant.batch_id] = k
        self.push(self.now + self.sim.latency, _START, k, node.epoch)

    def start(self, k: int) -> None:
        node = self.nodes[k]
        node.running = True
        node.position = 0
        if node.mind is not None:
            node.mind.batch(node.tasks)
        self.begin_item(k)

    def begin_item(self, k: int) -> None:
        node = self.nodes[k]
        index = node.tasks[node.position]
        runs = self.tally.runs
        if runs[index] < 255:
            runs[index] += 1
        node.started = self.now
        node.due = self.now + self.seconds(node, index)
        self.push(node.due, _ITEM, k, node.epoch)

    def seconds(self, node: _Node, index: int) -> float:
        """What the item at the node's position takes it (a copier spends nearly nothing)."""
        seconds = self.sim.true_work[index] / node.spec.rate
        return seconds if node.mind is None else seconds * node.mind.effort(node.position)

    def item_done(self, k: int) -> None:
        node = self.nodes[k]
        grant = node.grant
        assert grant is not None
        index = node.tasks[node.position]
        if self.trust is not None:
            self.verify(k, grant, index)
        else:
            outcome = self.schedule.result(
                grant.batch_id, index, ok=True, now=self.now, seconds=self.now - node.started
            )
            if outcome.verdict is Verdict.COMMIT:
                self.commit(k, index)
            else:
                self.tally.lost += self.sim.true_work[index]
            for batch_id in outcome.cancel:
                self.cancel(batch_id)
        if node.grant is not grant:  # cancelled just now by its own result
            return
        node.position += 1
        if node.position < len(node.tasks):
            self.begin_item(k)
            return
        self.schedule.batch_ended(grant.batch_id, self.now)
        self.owner.pop(grant.batch_id, None)
        node.grant = None
        node.running = False
        self.ask(k)

    def commit(self, k: int, index: int) -> None:
        """Item `index`'s result, from node k, is committed (a federated farm's site passes
        it up to its parent instead: `simulation_sites`)."""
        tally = self.tally
        if tally.committed[index]:
            raise SimulationError(f"item {index} committed twice")
        tally.committed[index] = 1
        tally.last_commit = self.now

    def verify(self, k: int, grant: Grant, index: int) -> None:
        """A result on a farm with untrusted nodes: counted, and committed once verification
        accepts it (a spot check's goes to verification alone)."""
        trust, verifying = self.trust, self.verifying
        assert trust is not None and verifying is not None
        node = self.nodes[k]
        right = truth(index)
        value = right if node.mind is None else node.mind.answer(index, trust.rng)
        honest = node.mind is None or not node.mind.conduct.cheats
        if verifying.spot_answered(k, index, value):
            trust.taken(index, value, right, honest, self.now, spot=True)
            return
        outcome = self.schedule.result(
            grant.batch_id, index, ok=True, now=self.now, seconds=self.now - node.started
        )
        for batch_id in outcome.cancel:
            self.cancel(batch_id)
        if outcome.verdict is not Verdict.COMMIT:
            self.tally.lost += self.sim.true_work[index]
            return
        trust.taken(index, value, right, honest, self.now)
        verifying.answered(k, index, value)

    def accept(self, index: int, value: int) -> None:
        """Item `index`'s result is committed."""
        assert self.trust is not None
        if self.tally.committed[index]:
            raise SimulationError(f"item {index} committed twice")
        self.tally.committed[index] = 1
        self.tally.last_commit = self.now
        self.trust.accepted(index, value, truth(index), self.now)

    def cancel(self, batch_id: str) -> None:
        """The schedule dropped a batch: its node hears of it after the latency."""
        k = self.owner.get(batch_id)
        if k is None:
            return
        node = self.nodes[k]
        if node.grant is None or node.grant.batch_id != batch_id:
            return
        if not node.running or node.mode is not Mode.RUN:  # not started, or frozen: at once
            self.cancelled(k)
            return
        self.push(self.now + self.sim.latency, _CANCEL, k, node.epoch)

    def cancelled(self, k: int) -> None:
        """A cancel reached node k: it stops and asks for other work."""
        self.stop(k)
        self.ask(k)

    def stop(self, k: int) -> None:
        """Node k stops its batch: the item in progress is lost."""
        node = self.nodes[k]
        grant = node.grant
        if grant is None:
            return
        if node.running and node.position < len(node.tasks):
            self.tally.lost += self.elapsed(node) * node.spec.rate
        self.schedule.batch_ended(grant.batch_id, self.now)
        self.owner.pop(grant.batch_id, None)
        node.grant = None
        node.running = False
        node.epoch += 1

    def death(self, k: int) -> None:
        node = self.nodes[k]
        if not node.alive:
            return
        grant = node.grant
        if grant is not None and node.running and node.position < len(node.tasks):
            self.tally.lost += self.elapsed(node) * node.spec.rate
        node.alive = False
        node.epoch += 1
        self.idle.pop(k, None)
        self.push(self.now + self.sim.detection_delay, _DETECT, k)

    def lost(self, k: int) -> None:
        node = self.nodes[k]
        self.schedule.node_lost(node.spec.id, self.now)
        if node.grant is not None:
            self.owner.pop(node.grant.batch_id, None)
            node.grant = None
        self.candidates_changed()
        self.wake()

    def leave(self, k: int) -> None:
        node = self.nodes[k]
        if not node.alive or not node.present:
            return
        grant = node.grant
        if grant is not None and node.running and node.position < len(node.tasks):
            self.tally.lost += self.elapsed(node) * node.spec.rate
        node.present = False
        node.epoch += 1
        self.idle.pop(k, None)
        self.lost(k)

    def candidates_changed(self) -> None:
        candidates = [
            n.candidate for n in self.nodes if n.alive and n.present and n.mode is Mode.RUN
        ]
        self.schedule.candidates_changed(candidates, self.now)

    def elapsed(self, node: _Node) -> float:
        """Seconds the item in progress has run (not counting a suspension)."""
        return node.frozen if node.mode is Mode.SUSPEND else self.now - node.started

    # --------------------------------------------------------------- availability

    def shift(self, k: int, number: int) -> None:
        """Node k's owner policy changes what it may do."""
        node = self.nodes[k]
        shifts = node.spec.shifts
        if number + 1 < len(shifts):
            self.push(shifts[number + 1].at, _SHIFT, k, number + 1)
        if not node.alive or not node.present:
            return
        shift = shifts[number]
        was = node.mode
        if shift.mode is Mode.WAIT and was is not Mode.WAIT:
            self.vacate(k)
        elif shift.mode is Mode.SUSPEND and was is Mode.RUN:
            if self.sim.aware:
                node.candidate = replace(node.candidate, suspended_at=self.now)
            self.suspend(k)
        node.mode = shift.mode
        if shift.mode is Mode.RUN:
            if self.sim.aware:
                node.candidate = replace(node.candidate, window_end=shift.window_end)
            if was is Mode.SUSPEND:
                self.resume(k)
        self.idle.pop(k, None)
        if not self.shifted:
            self.push(self.now, _CHANGED)
        self.shifted.append(k)

    def shifts_told(self, _: int = -1) -> None:
        """The shifts of this moment are done: the candidates change once, and the nodes that
        may now take work ask for it (and the others, if items came back)."""
        shifted, self.shifted = self.shifted, []
        self.candidates_changed()
        for k in shifted:
            self.ask(k)
        self.wake()

    def suspend(self, k: int) -> None:
        node = self.nodes[k]
        if node.grant is None:
            return
        self.tally.suspensions += 1
        if node.running:
            node.frozen = self.now - node.started
        node.epoch += 1  # its item (or start) is frozen: the events already due are stale

    def resume(self, k: int) -> None:
        node = self.nodes[k]
        if node.grant is None:
            return
        self.tally.resumptions += 1
        if node.running:
            node.started = self.now - node.frozen
            node.due = node.started + self.seconds(node, node.tasks[node.position])
            self.push(node.due, _ITEM, k, node.epoch)
        else:
            self.push(self.now + self.sim.latency, _START, k, node.epoch)

    def vacate(self, k: int) -> None:
        """The node hands its batch back at once; the item in progress is thrown away."""
        node = self.nodes[k]
        grant = node.grant
        if grant is None:
            return
        self.tally.vacates += 1
        if node.running and node.position < len(node.tasks):
            self.tally.thrown += self.elapsed(node)
            self.tally.handed_back += len(node.tasks) - node.position
        else:
            self.tally.handed_back += len(node.tasks)
        self.schedule.batch_ended(grant.batch_id, self.now)
        self.owner.pop(grant.batch_id, None)
        node.grant = None
        node.running = False
        node.epoch += 1

    def wake(self) -> None:
        """Something went back in the queue: idle nodes ask again."""
        for k in list(self.idle):
            self.ask(k)

    def on_tick(self, _: int = -1) -> None:
        schedule = self.schedule
        expired = schedule.expire(self.now)
        for batch_id in expired:
            k = self.owner.get(batch_id)
            if k is not None and self.nodes[k].alive and self.nodes[k].present:
                self.cancel(batch_id)
            elif k is not None:
                self.owner.pop(batch_id, None)
                self.nodes[k].grant = None
        if self.now >= self.next_heartbeat:
            self.next_heartbeat = self.now + self.sim.heartbeat_interval
            for node in self.nodes:
                if node.alive and node.present and node.grant is not None:
                    schedule.heartbeat(node.grant.batch_id, self.now)
        self.wake()
        if not schedule.done:
            self.push(self.now + self.sim.tick, _TICK)
