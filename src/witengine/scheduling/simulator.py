"""A deterministic discrete-event simulator: any strategy against virtual nodes.

It drives a `MapSchedule` through the same protocol as the hub's dispatcher: nodes with a free
slot ask for work, a grant reaches its node after the dispatch latency, the node runs the
batch's items in order and each result is delivered as the item finishes, heartbeats extend
leases, a tick expires leases and asks idle nodes again. Nodes have true speeds the scheduler
never sees, only benchmarks off by a given error; some die (their work in flight is lost, the
driver hears of it after a detection delay, unless a lease runs out first) and some leave (the
driver knows at once).

Nodes may also follow their owners' policies (`Shift`s: run, suspend, vacate; see
`simulation_loop`, which runs the events, and `office`, which draws a night of an office).

Time is virtual: an event heap, a seeded `random.Random`, no sleeping. The only real clock read
is `time.perf_counter` around each `request`, to report what a scheduling decision costs.

Every run is checked: each item committed exactly once, and the map done.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from witengine.scheduling.cheaters import Conduct, Mind, cheater_count, conducts
from witengine.scheduling.core import Candidate, MapSchedule, Strategy
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.simulation_loop import (
    EventLoop,
    Mode,
    Shift,
    SimulationError,
    Tally,
    VirtualNode,
    _Node,
    lower_bound,
)
from witengine.scheduling.simulation_trust import TrustReport, TrustTally, Verifying
from witengine.scheduling.verification import VerificationSettings

__all__ = [
    "ACTIVITY",
    "PLUGIN",
    "Mode",
    "Shift",
    "SimConfig",
    "SimReport",
    "Simulation",
    "SimulationError",
    "Tally",
    "VirtualNode",
    "build",
    "simulate",
]

ACTIVITY = "Simulated.Work"
PLUGIN = "simulated"


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
    untrusted: bool = False  # every node untrusted, each its own owner (but colluding pairs)
    cheaters: float = 0.0  # the share of untrusted nodes that cheat (`cheaters.CHEATS`, in turn)


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
    trust: TrustReport | None = None  # a farm of untrusted nodes: what verifying them cost

    def to_json(self) -> dict[str, object]:
        figures: dict[str, object] = {
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
        if self.trust is not None:
            figures.update(self.trust.to_json())
        return figures


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
    horizon = lower_bound([VirtualNode("", r, None) for r in rates], true_work)
    doomed = rng.sample(
        range(config.nodes), min(config.deaths + config.departures, config.nodes - 1)
    )
    deaths = set(doomed[: config.deaths])
    leaving = set(doomed[config.deaths :])
    trust: list[tuple[Conduct, int]] = []
    if config.untrusted:
        trust = conducts(config.nodes, cheater_count(config.nodes, config.cheaters))
        random.Random(config.seed + 0x7E57).shuffle(trust)  # apart: the farm draws as before
    elif config.cheaters:
        raise ValueError("cheaters are untrusted nodes: a farm with cheaters is untrusted")
    nodes = []
    for k, rate in enumerate(rates):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        benchmark = (
            None if k < config.unbenchmarked else rate * (1.0 + sign * config.benchmark_error)
        )
        gone = rng.uniform(0.05, 0.9) * horizon if k in deaths or k in leaving else None
        conduct, owner = trust[k] if trust else (Conduct.HONEST, 0)
        nodes.append(
            VirtualNode(
                f"node_{k:04d}",
                rate,
                benchmark,
                dies_at=gone if k in deaths else None,
                leaves_at=gone if k in leaving else None,
                owner=f"owner_{owner:04d}" if trust else "",
                trusted=not trust,
                conduct=conduct,
                owner_number=owner,
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
        seed=config.seed,
    )
    return run.run(seed=config.seed)


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
        horizon: float | None = None,  # the map must be done by then (nodes' shifts end)
        aware: bool = True,  # the scheduler hears the nodes' windows and suspensions
        seed: int = 0,  # of verification's choices and the cheaters' noise
        verification: VerificationSettings | None = None,
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
        self.horizon = horizon
        self.aware = aware
        self.seed = seed
        self.verification = verification or VerificationSettings()

    def run(self, seed: int = 0) -> SimReport:
        """Run the map to completion and check it; the report's figures."""
        makespan, tally, setup = self.execute()
        count = len(self.work)
        bound = lower_bound(self.specs, self.true_work)
        trust = None
        if tally.trust is not None:
            trust = self._trust_report(tally.trust, makespan, bound)
            bound = self._required_bound(tally.trust)
        decisions = sorted(tally.decisions.seconds) or [0.0]
        total = math.fsum(self.true_work)
        return SimReport(
            strategy=self.strategy.value,
            nodes=len(self.specs),
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
            trust=trust,
        )

    def _required_bound(self, trust: TrustTally) -> float:
        """The bound for the work that had to be done: every result honest nodes returned that
        the schedule took (the items' and the verification's), on the honest nodes."""
        honest = [s for s in self.specs if s.trusted or not s.conduct.cheats]
        return lower_bound(honest, trust.required) if honest else 0.0

    def _trust_report(self, trust: TrustTally, makespan: float, bound_job: float) -> TrustReport:
        cheaters = {k for k, spec in enumerate(self.specs) if spec.conduct.cheats}
        share, start, last_half = trust.shares()
        return TrustReport(
            untrusted=sum(1 for spec in self.specs if not spec.trusted),
            cheaters=len(cheaters),
            cheaters_caught=len(trust.caught & cheaters),
            honest_caught=len(trust.caught - cheaters),
            wrong_returned=trust.wrong_returned,
            wrong_committed=trust.wrong_committed,
            replicated_share=share,
            replicated_share_start=start,
            replicated_share_last_half=last_half,
            required_work=math.fsum(trust.required),
            bound_job=bound_job,
            efficiency_job=bound_job / makespan if makespan > 0 else 1.0,
        )

    def execute(self) -> tuple[float, Tally, float]:
        """Run the map to completion and check it: its makespan, what it did, and the seconds
        opening the schedule took."""
        for spec in self.specs:
            if spec.benchmark is not None:
                self.scheduler.rates.benchmark(spec.id, ACTIVITY, spec.benchmark)
        nodes = [
            _Node(
                spec,
                Candidate(spec.id, owner=spec.owner, trusted=spec.trusted),
                mind=None if spec.trusted else Mind(spec.conduct, spec.owner_number),
            )
            for spec in self.specs
        ]
        for node in nodes:
            if node.spec.shifts:
                node.mode = Mode.WAIT  # until its first shift
        began = time.perf_counter()
        schedule = self.scheduler.schedule(
            "job_simulated",
            ACTIVITY,
            PLUGIN,
            self.work,
            self.strategy,
            [n.candidate for n in nodes if n.mode is Mode.RUN],
            now=0.0,
        )
        setup = time.perf_counter() - began
        count = len(self.work)
        tally = Tally(bytearray(count), bytearray(count))
        if not all(spec.trusted for spec in self.specs):
            tally.trust = TrustTally(self.true_work, random.Random(f"cheaters-{self.seed}"))
        engine = EventLoop(self, schedule, nodes, tally)
        if tally.trust is not None:
            engine.verifying = Verifying(engine, ACTIVITY, self.verification, self.seed)
        makespan = engine.loop() if count else 0.0
        self._check(schedule, tally)
        return makespan, tally, setup

    @staticmethod
    def _check(schedule: MapSchedule, tally: Tally) -> None:
        missing = [i for i, c in enumerate(tally.committed) if c != 1]
        if missing or not schedule.done:
            failure = schedule.failure
            raise SimulationError(
                f"{len(missing)} item(s) never committed (first: {missing[:5]}); "
                f"schedule done={schedule.done}, failure={failure}"
            )
