"""A deterministic discrete-event simulator: any strategy against virtual nodes.

It drives a `MapSchedule` through the same protocol as the hub's dispatcher: nodes with a free
slot ask for work, a grant reaches its node after the dispatch latency, the node runs the
batch's items in order and each result is delivered as the item finishes, heartbeats extend
leases, a tick expires leases and asks idle nodes again. Nodes have true speeds the scheduler
never sees, only benchmarks off by a given error; some die (their work in flight is lost, the
driver hears of it after a detection delay, unless a lease runs out first) and some leave (the
driver knows at once).

Time is virtual: an event heap, a seeded `random.Random`, no sleeping. The only real clock read
is `time.perf_counter` around each `request`, to report what a scheduling decision costs.

Every run is checked: each item committed exactly once, and the map done.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from witengine.errors import WitError
from witengine.scheduling.core import Candidate, Decision, Grant, MapSchedule, Strategy, Verdict
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings

ACTIVITY = "Simulated.Work"
PLUGIN = "simulated"

_START, _ITEM, _CANCEL, _DEATH, _DETECT, _LEAVE, _TICK = range(7)


class SimulationError(WitError):
    """A schedule broke an invariant in the simulator: an item lost or committed twice."""


@dataclass(frozen=True)
class VirtualNode:
    """A simulated node: its true rate, what its benchmark says, and when it goes away."""

    id: str
    rate: float  # true units per second
    benchmark: float | None  # None: the node has no benchmark
    dies_at: float | None = None  # crashes: work in flight lost, noticed late
    leaves_at: float | None = None  # departs: work in flight lost, noticed at once


@dataclass(frozen=True)
class SimConfig:
    """A farm and a map to simulate, all drawn from `seed`."""

    nodes: int = 20
    items: int = 2_000
    strategy: Strategy = Strategy.ADAPTIVE
    speed_spread: float = 8.0  # fastest / slowest node (log-uniform in between)
    benchmark_error: float = 0.0  # benchmark = true rate x (1 ± this), random sign per node
    deaths: int = 0
    departures: int = 0
    unbenchmarked: int = 0  # nodes without a benchmark
    seed: int = 0
    latency: float = 0.002  # seconds from a grant to its node starting it (also cancels)
    detection_delay: float = 10.0  # seconds until the driver notices a dead node
    heartbeat_interval: float = 5.0
    tick: float = 0.25  # the driver's expire-and-ask-again period
    work_low: float = 0.5  # item work is uniform in [work_low, work_high] units
    work_high: float = 1.5
    work_noise: float = 0.0  # an item's true work = estimate x (1 ± up to this)


@dataclass(frozen=True)
class SimReport:
    """What one run shows; `efficiency` is `bound / makespan`."""

    strategy: str
    nodes: int
    items: int
    seed: int
    makespan: float
    bound: float
    efficiency: float
    duplicates: int  # items run more than once
    lost: float  # work units run but not committed
    lost_share: float  # lost / total work
    decision_ms_median: float
    decision_ms_p99: float
    grant_ms_median: float  # requests that gave work (the rest mostly answer "nothing yet")
    requests: int
    batches: int
    setup_ms: float  # opening the schedule (Balanced plans everything then)

    def to_json(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "nodes": self.nodes,
            "items": self.items,
            "seed": self.seed,
            "makespan": round(self.makespan, 6),
            "bound": round(self.bound, 6),
            "efficiency": round(self.efficiency, 6),
            "duplicates": self.duplicates,
            "lost": round(self.lost, 6),
            "lost_share": round(self.lost_share, 6),
            "decision_ms_median": round(self.decision_ms_median, 6),
            "decision_ms_p99": round(self.decision_ms_p99, 6),
            "grant_ms_median": round(self.grant_ms_median, 6),
            "requests": self.requests,
            "batches": self.batches,
            "setup_ms": round(self.setup_ms, 3),
        }


def build(config: SimConfig) -> tuple[list[VirtualNode], list[float], list[float]]:
    """The nodes, the items' estimated work and their true work, drawn from the seed."""
    if config.nodes < 1 or config.items < 0:
        raise ValueError("a simulation needs at least one node and no negative item count")
    if config.speed_spread < 1 or not 0 <= config.benchmark_error < 1:
        raise ValueError("speed spread must be >= 1 and benchmark error in [0, 1)")
    if not 0 < config.work_low <= config.work_high:
        raise ValueError("item work needs 0 < work_low <= work_high")
    rng = random.Random(config.seed)
    spread = math.log(config.speed_spread)
    rates = [math.exp(rng.uniform(0.0, spread)) for _ in range(config.nodes)]
    rates[0] = 1.0  # pin both ends so the spread is exactly as asked
    if config.nodes > 1:
        rates[1] = config.speed_spread
    rng.shuffle(rates)
    estimated = [rng.uniform(config.work_low, config.work_high) for _ in range(config.items)]
    noise = config.work_noise
    true_work = [w * (1.0 + rng.uniform(-noise, noise)) for w in estimated] if noise else estimated
    horizon = _bound([VirtualNode("", r, None) for r in rates], true_work)
    doomed = rng.sample(
        range(config.nodes), min(config.deaths + config.departures, config.nodes - 1)
    )
    deaths = set(doomed[: config.deaths])
    leaving = set(doomed[config.deaths :])
    nodes = []
    for k, rate in enumerate(rates):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        benchmark = (
            None if k < config.unbenchmarked else rate * (1.0 + sign * config.benchmark_error)
        )
        gone = rng.uniform(0.05, 0.9) * horizon if k in deaths or k in leaving else None
        nodes.append(
            VirtualNode(
                f"node_{k:04d}",
                rate,
                benchmark,
                dies_at=gone if k in deaths else None,
                leaves_at=gone if k in leaving else None,
            )
        )
    return nodes, estimated, true_work


def simulate(config: SimConfig, settings: SchedulerSettings | None = None) -> SimReport:
    """Build the farm and map the config describes and run `config.strategy` on it."""
    nodes, estimated, true_work = build(config)
    run = Simulation(
        nodes,
        estimated,
        config.strategy,
        true_work=true_work,
        settings=settings or SchedulerSettings(dispatch_overhead=config.latency),
        latency=config.latency,
        detection_delay=config.detection_delay,
        heartbeat_interval=config.heartbeat_interval,
        tick=config.tick,
    )
    return run.run(seed=config.seed)


def _bound(nodes: Sequence[VirtualNode], work: Sequence[float]) -> float:
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
    position: int = 0  # the item of the grant in progress
    started: float = 0.0  # when that item started
    running: bool = False  # the grant arrived and the node works on it
    epoch: int = 0  # bumped whenever it stops what it was doing: older events are stale


@dataclass
class _Tally:
    committed: bytearray
    runs: bytearray  # times each item started (capped at 255)
    lost: float = 0.0
    decisions: Decision = field(default_factory=Decision)  # every request's seconds
    granted: list[float] = field(default_factory=list)  # … of those that gave work
    batches: int = 0
    last_commit: float = 0.0


class Simulation:
    """One run of one strategy over given nodes and items."""

    def __init__(
        self,
        nodes: Sequence[VirtualNode],
        work: Sequence[float],
        strategy: Strategy,
        *,
        true_work: Sequence[float] | None = None,
        settings: SchedulerSettings | None = None,
        latency: float = 0.002,
        detection_delay: float = 10.0,
        heartbeat_interval: float = 5.0,
        tick: float = 0.25,
    ) -> None:
        if not nodes:
            raise ValueError("a simulation needs at least one node")
        self.specs = list(nodes)
        self.work = list(work)
        self.true_work = list(true_work) if true_work is not None else self.work
        self.strategy = Strategy(strategy)
        self.scheduler = Scheduler(settings)
        self.latency = latency
        self.detection_delay = detection_delay
        self.heartbeat_interval = heartbeat_interval
        self.tick = tick

    def run(self, seed: int = 0) -> SimReport:
        """Run the map to completion and check it; the report's figures."""
        for spec in self.specs:
            if spec.benchmark is not None:
                self.scheduler.rates.benchmark(spec.id, ACTIVITY, spec.benchmark)
        nodes = [_Node(spec, Candidate(spec.id)) for spec in self.specs]
        began = time.perf_counter()
        schedule = self.scheduler.schedule(
            "job_simulated",
            ACTIVITY,
            PLUGIN,
            self.work,
            self.strategy,
            [n.candidate for n in nodes],
            now=0.0,
        )
        setup = time.perf_counter() - began
        count = len(self.work)
        tally = _Tally(bytearray(count), bytearray(count))
        engine = _Engine(self, schedule, nodes, tally)
        makespan = engine.loop() if count else 0.0
        self._check(schedule, tally)
        bound = _bound(self.specs, self.true_work)
        decisions = sorted(tally.decisions.seconds) or [0.0]
        total = math.fsum(self.true_work)
        return SimReport(
            strategy=self.strategy.value,
            nodes=len(nodes),
            items=count,
            seed=seed,
            makespan=makespan,
            bound=bound,
            efficiency=bound / makespan if makespan > 0 else 1.0,
            duplicates=sum(1 for r in tally.runs if r > 1),
            lost=tally.lost,
            lost_share=tally.lost / total if total > 0 else 0.0,
            decision_ms_median=statistics.median(decisions) * 1000.0,
            decision_ms_p99=decisions[min(len(decisions) - 1, int(len(decisions) * 0.99))] * 1000.0,
            grant_ms_median=statistics.median(tally.granted or [0.0]) * 1000.0,
            requests=len(tally.decisions.seconds),
            batches=tally.batches,
            setup_ms=setup * 1000.0,
        )

    @staticmethod
    def _check(schedule: MapSchedule, tally: _Tally) -> None:
        missing = [i for i, c in enumerate(tally.committed) if c != 1]
        if missing or not schedule.done:
            failure = schedule.failure
            raise SimulationError(
                f"{len(missing)} item(s) never committed (first: {missing[:5]}); "
                f"schedule done={schedule.done}, failure={failure}"
            )


class _Engine:
    """The event loop of one run."""

    def __init__(
        self, sim: Simulation, schedule: MapSchedule, nodes: list[_Node], tally: _Tally
    ) -> None:
        self.sim = sim
        self.schedule = schedule
        self.nodes = nodes
        self.tally = tally
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.seq = 0
        self.idle: dict[int, None] = {}  # nodes with a free slot and nothing granted
        self.owner: dict[str, int] = {}  # batch id -> node running it
        self.now = 0.0
        self.next_heartbeat = sim.heartbeat_interval

    def push(self, at: float, kind: int, node: int = -1, epoch: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, node, epoch))

    def loop(self) -> float:
        sim = self.sim
        self.handlers = {
            _TICK: self.on_tick,
            _DEATH: self.death,
            _DETECT: self.lost,
            _LEAVE: self.leave,
        }
        for k, node in enumerate(self.nodes):
            if node.spec.dies_at is not None:
                self.push(node.spec.dies_at, _DEATH, k)
            if node.spec.leaves_at is not None:
                self.push(node.spec.leaves_at, _LEAVE, k)
        for k in range(len(self.nodes)):
            self.ask(k)
        self.push(sim.tick, _TICK)
        schedule = self.schedule
        limit = 1000.0 * _bound(sim.specs, sim.true_work) + 3600.0
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
            else:
                self.handlers[kind](k)
            if schedule.failure is not None:
                index, error = schedule.failure
                raise SimulationError(f"the map failed on item {index}: {error}")
        return self.tally.last_commit

    # ------------------------------------------------------------------ node life

    def ask(self, k: int) -> None:
        """Node k has a free slot: ask the schedule for work."""
        node = self.nodes[k]
        if not node.alive or not node.present or node.grant is not None:
            return
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
        node.running = False
        node.epoch += 1  # a cancel meant for an earlier batch must not stop this one
        self.owner[grant.batch_id] = k
        self.push(self.now + self.sim.latency, _START, k, node.epoch)

    def start(self, k: int) -> None:
        node = self.nodes[k]
        node.running = True
        node.position = 0
        self.begin_item(k)

    def begin_item(self, k: int) -> None:
        node = self.nodes[k]
        assert node.grant is not None
        index = node.grant.indices[node.position]
        runs = self.tally.runs
        if runs[index] < 255:
            runs[index] += 1
        node.started = self.now
        self.push(self.now + self.sim.true_work[index] / node.spec.rate, _ITEM, k, node.epoch)

    def item_done(self, k: int) -> None:
        node = self.nodes[k]
        grant = node.grant
        assert grant is not None
        index = grant.indices[node.position]
        seconds = self.now - node.started
        outcome = self.schedule.result(
            grant.batch_id, index, ok=True, now=self.now, seconds=seconds
        )
        tally = self.tally
        if outcome.verdict is Verdict.COMMIT:
            if tally.committed[index]:
                raise SimulationError(f"item {index} committed twice")
            tally.committed[index] = 1
            tally.last_commit = self.now
        else:
            tally.lost += self.sim.true_work[index]
        for batch_id in outcome.cancel:
            self.cancel(batch_id)
        if node.grant is not grant:  # cancelled just now by its own result
            return
        node.position += 1
        if node.position < len(grant.indices):
            self.begin_item(k)
            return
        self.schedule.batch_ended(grant.batch_id, self.now)
        self.owner.pop(grant.batch_id, None)
        node.grant = None
        node.running = False
        self.ask(k)

    def cancel(self, batch_id: str) -> None:
        """The schedule dropped a batch: its node hears of it after the latency."""
        k = self.owner.get(batch_id)
        if k is None:
            return
        node = self.nodes[k]
        if node.grant is None or node.grant.batch_id != batch_id:
            return
        if not node.running:  # not started yet: it never will
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
        if node.running and node.position < len(grant.indices):
            self.tally.lost += (self.now - node.started) * node.spec.rate
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
        if grant is not None and node.running and node.position < len(grant.indices):
            self.tally.lost += (self.now - node.started) * node.spec.rate
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
        if grant is not None and node.running and node.position < len(grant.indices):
            self.tally.lost += (self.now - node.started) * node.spec.rate
        node.present = False
        node.epoch += 1
        self.idle.pop(k, None)
        self.lost(k)

    def candidates_changed(self) -> None:
        candidates = [n.candidate for n in self.nodes if n.alive and n.present]
        self.schedule.candidates_changed(candidates, self.now)

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
