"""The office at night, simulated: machines lent by their owners, a day compressed into seconds.

`draw` makes an office of `machines` computers from a seed, starting at 17:00 on a weekday:
- desktops (most), whose owners let them work from about 20:00 to about 08:00 (each machine's
  hours a little different: starts and ends spread over an hour either way, in quarter hours);
- lab machines (`lab_share`), with no hours at all, whose users come and go during the day;
- laptops (`laptop_share`), with desktop hours; half of them leave for good during the night
  (their lid closed: their work in flight is lost, and the hub notices a minute later).
Owners come back at random during a machine's window (`visits` a night on average, each using
it for 30 s to an hour, log-uniform), and lab users during the day (4 a day, 2 to 90 minutes).

Each machine follows the node's owner policy, with its defaults (`OwnerRules`: HTCondor's):
work starts after `idle_after` without input in its window; input suspends the work at once;
`resume_after` without input resumes it; suspended `vacate_after`, or the window closing, it
vacates: finished items are in, the rest handed back at once, the item in progress thrown away.
`shifts` turns a machine's windows and its owner's visits into what it does when (`Shift`s);
the simulator runs one map of `items` on the office, sized to fill `fill` of what the office can
do in its first day, with Adaptive by default.

**E**, the efficiency against availability: `E = W / B`, where `W` is the work of every item
(each committed once; units of work) and `B` the bound: the sum over machines of the machine's
true rate × the seconds its policy let it run between the job's start and its last result (a
laptop until it left). A machine computes only while its policy lets it, so E <= 1; E = 1 would
mean every second a machine was available went into a result that counted. What E loses: items
thrown away by vacates, work lost with laptops, duplicates that lost the race, time a node
stands idle (waiting for its first batch, near the end of its window when no item fits, at the
end of the map), and time spent on items a wrong benchmark sized too large for a window.

Pure: virtual time; randomness from the seed.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.simulator import Mode, Shift, Simulation, SimulationError, VirtualNode
from witengine.scheduling.strategy import Strategy

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR
START_HOUR = 17.0  # the simulation starts at 17:00; t = 0 then
_EPSILON = 1e-6  # seconds: times computed two ways compare equal within it


@dataclass(frozen=True)
class OwnerRules:
    """The owner policy's timings, as the node's defaults have them."""

    idle_after: float = 15 * MINUTE  # without input before work starts
    resume_after: float = 5 * MINUTE  # without input before suspended work resumes
    vacate_after: float = 10 * MINUTE  # suspended this long: hand the work back


@dataclass(frozen=True)
class OfficeConfig:
    """An office and a job to simulate, all drawn from `seed`."""

    machines: int = 500
    items: int = 50_000
    seed: int = 0
    strategy: Strategy = Strategy.ADAPTIVE
    fill: float = 0.9  # the job's work, as a share of what the office can do in its first day
    speed_spread: float = 4.0  # fastest / slowest machine (log-uniform in between)
    benchmark_error: float = 0.3  # benchmarks off by up to this share, either way
    visits: float = 1.0  # an owner's returns during a night, on average
    lab_share: float = 0.12  # machines with no hours, used during the day
    laptop_share: float = 0.08  # half of them leave for good during the night
    days: int = 3  # the office's hours are drawn this far ahead: the job must end by then
    aware: bool = True  # False: the scheduler is not told windows and suspensions (to compare)
    rules: OwnerRules = OwnerRules()

    def __post_init__(self) -> None:
        if self.machines < 1 or self.items < 1:
            raise ValueError("an office needs at least one machine and one item")
        if not self.fill > 0 or self.speed_spread < 1 or not 0 <= self.benchmark_error < 1:
            raise ValueError("fill > 0, speed spread >= 1 and benchmark error in [0, 1)")
        if self.lab_share < 0 or self.laptop_share < 0 or self.lab_share + self.laptop_share > 1:
            raise ValueError("the lab and laptop shares must add up to at most 1")


@dataclass(frozen=True)
class OfficeReport:
    """What a simulated office night shows (E is `work / bound`; see the module)."""

    machines: int
    items: int
    seed: int
    strategy: str
    makespan: float  # seconds from the job's start (17:00) to its last result
    finished_at: str  # the clock time then ("06:41", "+1d 07:02" a day later)
    available_hours: float  # machine-hours the office's policies let it run meanwhile
    bound: float  # work units those hours could do at the machines' true rates
    work: float  # work units of the items
    efficiency: float
    items_lost: int  # items without a committed result (must be 0)
    thrown_seconds: float  # machine-seconds of items in progress thrown away by vacates
    thrown_share: float  # … as a share of the available seconds
    suspensions: int
    resumptions: int
    vacates: int
    handed_back: int  # items handed back by vacates
    departures: int  # laptops that left for good
    duplicates: int  # items run more than once
    batches: int
    decision_ms_median: float
    decision_ms_p99: float

    def to_json(self) -> dict[str, object]:
        return {
            key: round(value, 6) if isinstance(value, float) else value
            for key, value in self.__dict__.items()
        }


def shifts(
    windows: Sequence[tuple[float, float]],
    visits: Sequence[tuple[float, float]],
    rules: OwnerRules,
    horizon: float,
) -> tuple[Shift, ...]:
    """What a machine does when, from its windows (sorted, apart; `(0, inf)`: no hours) and its
    owner's visits (`(at, seconds of input)`), under the owner policy, until `horizon`."""
    starts = [start for start, _ in windows]
    moments: list[tuple[float, int, float]] = []  # (time, kind, input seconds)
    for opens, ends in windows:
        moments += [(opens, 0, 0.0), (ends, 0, 0.0)]
    moments += [(at, 1, seconds) for at, seconds in visits]
    heapq.heapify(moments)
    mode, window_end = Mode.WAIT, None  # what was last told
    input_until, suspended_at = -math.inf, 0.0
    found: list[Shift] = []
    while moments:
        t, kind, seconds = heapq.heappop(moments)
        if t > horizon:
            break
        if kind == 1:
            input_until = max(input_until, t + seconds)
            heapq.heappush(moments, (input_until + rules.resume_after, 2, 0.0))
            heapq.heappush(moments, (input_until + rules.idle_after, 2, 0.0))
        k = bisect.bisect_right(starts, t) - 1
        end = windows[k][1] if k >= 0 and t < windows[k][1] else None
        idle = t - input_until
        new = mode
        if mode is Mode.RUN:
            if end is None:
                new = Mode.WAIT
            elif idle < 0:
                new, suspended_at = Mode.SUSPEND, t
                heapq.heappush(moments, (t + rules.vacate_after, 2, 0.0))
        elif mode is Mode.SUSPEND:
            if end is None or t - suspended_at >= rules.vacate_after - _EPSILON:
                new = Mode.WAIT
            elif idle >= rules.resume_after - _EPSILON:
                new = Mode.RUN
        elif end is not None and idle >= rules.idle_after - _EPSILON:
            new = Mode.RUN
        told_end = None if end is None or math.isinf(end) else end
        if new is not mode or (new is Mode.RUN and told_end != window_end):
            found.append(Shift(t, new, told_end if new is Mode.RUN else None))
            mode, window_end = new, told_end
    return tuple(found)


def available_seconds(machine: VirtualNode, until: float) -> float:
    """Seconds between 0 and `until` in which the machine's policy let it run (while it was
    there: a laptop that left counts until it left)."""
    if not machine.shifts:
        return until
    end = min(until, machine.dies_at if machine.dies_at is not None else math.inf)
    total = 0.0
    running_since: float | None = None
    for shift in machine.shifts:
        if shift.at >= end:
            break
        if shift.mode is Mode.RUN and running_since is None:
            running_since = shift.at
        elif shift.mode is not Mode.RUN and running_since is not None:
            total += shift.at - running_since
            running_since = None
    if running_since is not None:
        total += end - running_since
    return total


def draw(config: OfficeConfig) -> tuple[list[VirtualNode], list[float]]:
    """The office's machines and the job's items' work, drawn from the seed."""
    rng = random.Random(config.seed)
    rules = config.rules
    horizon = config.days * DAY
    machines: list[VirtualNode] = []
    labs = round(config.machines * config.lab_share)
    laptops = round(config.machines * config.laptop_share)
    kinds = ["lab"] * labs + ["laptop"] * laptops
    kinds += ["desktop"] * (config.machines - len(kinds))
    rng.shuffle(kinds)
    spread = math.log(config.speed_spread)
    for number, kind in enumerate(kinds):
        rate = math.exp(rng.uniform(0.0, spread))
        error = rng.uniform(-config.benchmark_error, config.benchmark_error)
        dies_at = None
        if kind == "lab":
            windows: list[tuple[float, float]] = [(0.0, math.inf)]
            visits = _day_visits(rng, config.days)
        else:
            windows = _night_windows(rng, config.days)
            visits = _night_visits(rng, windows, config.visits)
            if kind == "laptop" and rng.random() < 0.5:
                start, end = windows[0]
                dies_at = rng.uniform(start, end)
        machines.append(
            VirtualNode(
                f"node_{number:04d}",
                rate,
                rate * (1.0 + error),
                dies_at=dies_at,
                shifts=shifts(windows, visits, rules, horizon),
            )
        )
    capacity = math.fsum(m.rate * available_seconds(m, DAY) for m in machines)
    mean = config.fill * capacity / config.items
    work = [rng.uniform(0.5, 1.5) * mean for _ in range(config.items)]
    return machines, work


def _night_windows(rng: random.Random, days: int) -> list[tuple[float, float]]:
    """About 20:00 to about 08:00, each machine's own quarter hours, every night."""
    opens = (20.0 - START_HOUR) * HOUR + rng.randint(-4, 4) * 15 * MINUTE
    closes = (32.0 - START_HOUR) * HOUR + rng.randint(-4, 4) * 15 * MINUTE
    return [(day * DAY + opens, day * DAY + closes) for day in range(days)]


def _night_visits(
    rng: random.Random, windows: list[tuple[float, float]], mean: float
) -> list[tuple[float, float]]:
    visits = []
    for start, end in windows:
        for _ in range(_poisson(rng, mean)):
            visits.append((rng.uniform(start, end), _log_uniform(rng, 30.0, HOUR)))
    return sorted(visits)


def _day_visits(rng: random.Random, days: int) -> list[tuple[float, float]]:
    """Lab users from 08:00 to 18:00."""
    visits = []
    for day in range(days):
        morning = day * DAY + (32.0 - START_HOUR) * HOUR
        for _ in range(_poisson(rng, 4.0)):
            at = rng.uniform(morning, morning + 10 * HOUR)
            visits.append((at, _log_uniform(rng, 2 * MINUTE, 90 * MINUTE)))
    return sorted(visits)


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0) if mean > 0 else math.inf
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def clock(seconds: float) -> str:
    """The office's clock time `seconds` after the start ("06:41", "+1d 07:02")."""
    minutes = round((START_HOUR * HOUR + seconds) / MINUTE)
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text if days <= 1 else f"+{days - 1}d {text}"


def simulate_office(config: OfficeConfig) -> OfficeReport:
    """Run the office's night and report E against its availability."""
    machines, work = draw(config)
    latency = 0.01
    run = Simulation(
        machines,
        work,
        config.strategy,
        settings=SchedulerSettings(dispatch_overhead=latency, min_lease=15 * MINUTE),
        latency=latency,
        detection_delay=MINUTE,
        heartbeat_interval=5 * MINUTE,
        tick=10.0,
        horizon=config.days * DAY,
        aware=config.aware,
    )
    try:
        makespan, tally, _ = run.execute()
    except SimulationError as error:
        raise SimulationError(
            f"the job was not done within the {config.days} days the office's hours were drawn "
            f"for ({error}); Balanced plans every item at 17:00 on the machines there then"
        ) from None
    available = [available_seconds(m, makespan) for m in machines]
    bound = math.fsum(m.rate * s for m, s in zip(machines, available, strict=True))
    total = math.fsum(work)
    decisions = sorted(tally.decisions.seconds) or [0.0]
    seconds = math.fsum(available)
    return OfficeReport(
        machines=config.machines,
        items=config.items,
        seed=config.seed,
        strategy=Strategy(config.strategy).value,
        makespan=makespan,
        finished_at=clock(makespan),
        available_hours=seconds / HOUR,
        bound=bound,
        work=total,
        efficiency=total / bound if bound > 0 else 1.0,
        items_lost=sum(1 for c in tally.committed if c != 1),
        thrown_seconds=tally.thrown,
        thrown_share=tally.thrown / seconds if seconds > 0 else 0.0,
        suspensions=tally.suspensions,
        resumptions=tally.resumptions,
        vacates=tally.vacates,
        handed_back=tally.handed_back,
        departures=sum(1 for m in machines if m.dies_at is not None and m.dies_at < makespan),
        duplicates=sum(1 for r in tally.runs if r > 1),
        batches=tally.batches,
        decision_ms_median=statistics.median(decisions) * 1000.0,
        decision_ms_p99=decisions[min(len(decisions) - 1, int(len(decisions) * 0.99))] * 1000.0,
    )
