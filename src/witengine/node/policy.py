"""A node's owner policy: when it may borrow the machine, and what it does when the owner is back.

Pure: `Governor.decide` maps what the machine looks like now (`Observation`: the local time, how
long since the last input, the load of everything but witengine, whether it runs on battery) to
an `Action` with its reason, remembering what it needs for hysteresis (how long the machine has
been idle again, how long the work has been suspended). The agent observes, asks, and acts:
it freezes the running batches' process trees on SUSPEND, thaws them on RUN, and hands back what
it holds on VACATE. Tests drive it with a fake clock and made-up observations.

The rules, in the order they are asked (docs/farm.md, "Borrowing desktops", says them to owners):

- Outside its `hours`: VACATE at once.
- Running: SUSPEND at once on input since it started (or resumed), on battery (when `on_battery`
  is "stop"), or when the load of others has stayed over `max_load` for `LOAD_SUSTAIN` seconds
  (a spike does not stop the farm's work).
- Suspended: RUN again once idle for `resume_after`, off battery, and the load of others under
  `max_load` for `LOAD_CALM` seconds; VACATE once suspended for `vacate_after`.
- Holding nothing (not started yet, or vacated): VACATE (there is nothing to hand back; the node
  is unavailable) until idle for `idle_after`, off battery, and under `max_load`; then RUN.

A node without a policy (`Governor(None)`) runs whenever it is connected: a dedicated machine.

Over all of these, its owner may **pause** the node at its own page (`paused`): what runs is
suspended, handed back after `vacate_after` (the default for a node without a policy), and
nothing new is taken until the owner resumes it; the policy then decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import NamedTuple

from witengine.node.hours import Window, standing, week_shares
from witengine.protocol.states import Availability

MINUTE = 60.0
IDLE_AFTER = 15 * MINUTE  # HTCondor's StartIdleTime for desktops
RESUME_AFTER = 5 * MINUTE  # HTCondor's ContinueIdleTime: a short absence does not thaw the work
VACATE_AFTER = 10 * MINUTE  # HTCondor's MaxSuspendTime
MAX_LOAD = 0.3  # per core, of every process but witengine's
LOAD_SUSTAIN = 5.0  # seconds the load must stay over max_load before running work is suspended
LOAD_CALM = 30.0  # seconds it must stay under again before work suspended for load resumes
# Idle sources read the last input to about a second: the last-input moment moving by less than
# this is the source's rounding, not the owner.
INPUT_TOLERANCE = 1.0

IDLE_SOURCES = ("auto", "logind", "x11", "terminals", "windows", "macos", "none")
PRIORITIES = {"lowest": 19, "low": 10, "normal": 0}  # name -> nice (Windows: idle, below normal)


class OnBattery(StrEnum):
    """What the node does when the machine runs on battery."""

    STOP = "stop"  # suspend, then vacate after vacate_after
    RUN = "run"


class Action(StrEnum):
    """What the node does now."""

    RUN = "run"  # take work, and run (or thaw) what it holds
    SUSPEND = "suspend"  # freeze what it runs, keep it; take no new work
    VACATE = "vacate"  # deliver what is finished, hand the rest back; take no new work


_AVAILABILITY = {
    Action.RUN: Availability.AVAILABLE,
    Action.SUSPEND: Availability.SUSPENDED,
    Action.VACATE: Availability.UNAVAILABLE,
}


@dataclass(frozen=True)
class Observation:
    """The machine at one moment, as the policy needs it."""

    wall: datetime  # the local time, aware of its time zone (windows are in local time)
    monotonic: float  # seconds on a monotonic clock, for how long things have lasted
    idle_seconds: float | None  # since the last keyboard or mouse input; None: no desktop
    load_per_core: float  # the load of every process but witengine's, per core
    on_battery: bool


@dataclass(frozen=True)
class Decision:
    """What to do, why, and how long the current window of work stays open."""

    action: Action
    reason: str  # in words, for `wit nodes` and the dashboard ("" when simply running)
    window_seconds: float | None = None  # until the current window closes; None: no end

    @property
    def availability(self) -> Availability:
        """What the node reports in its `NodeStatus`: run is available, suspend suspended,
        vacate (holding nothing) unavailable."""
        return _AVAILABILITY[self.action]


class WorkerLimits(NamedTuple):
    """What the agent applies to each worker process it starts."""

    nice: int  # added niceness (0 normal, 19 lowest); on Windows 19 is IDLE_PRIORITY_CLASS
    memory_bytes: int | None  # RLIMIT_DATA of each worker process; None: no limit


@dataclass(frozen=True)
class Policy:
    """An owner's policy, parsed (node/policy_file.py reads it from TOML and flags)."""

    hours: tuple[Window, ...] = ()  # when it may work; none: any time
    idle_after: float = IDLE_AFTER
    resume_after: float = RESUME_AFTER
    vacate_after: float = VACATE_AFTER
    max_load: float = MAX_LOAD
    on_battery: OnBattery = OnBattery.STOP
    max_cores: int | None = None
    max_memory: int | None = None  # bytes
    priority: int = PRIORITIES["lowest"]  # niceness of the workers, 0 to 19
    idle_source: str = "auto"  # one of IDLE_SOURCES, or "file:PATH"
    # Each setting as its owner wrote it ("idle-after" -> "15m"), for summary(); defaults are
    # written out by summary() itself.
    written: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def summary(self) -> dict[str, str]:
        """Every setting, as written (defaults spelled out), for `NodeStatus.policy`."""
        names = {value: name for name, value in PRIORITIES.items()}
        shown = {
            "hours": ", ".join(window.text for window in self.hours) or "any time",
            "idle-after": duration_text(self.idle_after),
            "resume-after": duration_text(self.resume_after),
            "vacate-after": duration_text(self.vacate_after),
            "max-load": f"{self.max_load:g}",
            "on-battery": str(self.on_battery),
            "max-cores": str(self.max_cores) if self.max_cores else "all",
            "max-memory": str(self.max_memory) if self.max_memory else "all",
            "priority": names.get(self.priority, str(self.priority)),
            "idle-source": self.idle_source,
        }
        shown.update(self.written)
        return shown

    def week(self, tz: tzinfo, at: datetime | None = None) -> list[float]:
        """The share of each hour of the UTC week around `at` (now when not given) that the hours
        allow: 168 numbers, Monday 00:00 UTC first, for `NodeStatus.week`."""
        if not self.hours:
            return [1.0] * 168
        return week_shares(self.hours, tz, at or datetime.now(tz))

    def worker_limits(self) -> WorkerLimits:
        """The niceness and memory limit for each worker process the node starts."""
        return WorkerLimits(self.priority, self.max_memory)

    def caps(self, cores: int, ram_bytes: int) -> tuple[int, int]:
        """The cores and RAM the node may advertise and give batches, out of the machine's."""
        return (
            min(cores, self.max_cores) if self.max_cores else cores,
            min(ram_bytes, self.max_memory) if self.max_memory else ram_bytes,
        )


PAUSED = "paused by its owner at the node's page"


def paused(decision: Decision, seconds: float, vacate_after: float) -> Decision:
    """What a node its owner paused `seconds` ago does, whatever the policy decided: it
    suspends what runs and, paused for `vacate_after`, hands it back; holding nothing (the
    policy vacated, or it has handed back) it is simply unavailable. The window stays the
    policy's."""
    window = decision.window_seconds
    if decision.action is Action.VACATE:
        return Decision(Action.VACATE, PAUSED, window)
    if seconds >= vacate_after:
        span = duration_text(vacate_after)
        return Decision(Action.VACATE, f"{PAUSED}; work handed back after {span}", window)
    return Decision(Action.SUSPEND, PAUSED, window)


def duration_text(seconds: float) -> str:
    """A duration as the settings write it: `90s`, `15m`, `2h`, `1h30m`."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    if not whole or whole % 60:
        return f"{whole}s"
    hours, minutes = divmod(whole // 60, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")


def ago(seconds: float) -> str:
    """A span in words for reasons: `3 s`, `4 min`, `2 h 5 min`."""
    whole = max(0, round(seconds))
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class _Phase(StrEnum):
    WAITING = "waiting"  # holds nothing: not started yet, or vacated
    RUNNING = "running"
    SUSPENDED = "suspended"


class Governor:
    """Applies a policy to observations one after another, remembering what hysteresis needs."""

    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy
        self._phase = _Phase.WAITING
        self._suspended_at = 0.0
        # The last input known when the work started or resumed, in monotonic seconds: input
        # later than this (beyond the sources' rounding) is the owner coming back.
        self._input_mark: float | None = None
        self._load_over_since: float | None = None  # over max_load without a break since
        self._load_last_over: float | None = None  # the last moment it was over max_load

    def decide(self, seen: Observation) -> Decision:
        """What the node does now, given what the machine looks like now."""
        policy = self.policy
        if policy is None:
            return Decision(Action.RUN, "", None)
        now = seen.monotonic
        self._track_load(seen, policy)
        window: float | None = None
        if policy.hours:
            where = standing(policy.hours, seen.wall)
            if not where.open:
                self._phase = _Phase.WAITING
                opens = where.opens.astimezone(seen.wall.tzinfo) if where.opens else None
                when = f"; opens {opens:%a %H:%M}" if opens else ""
                hours = ", ".join(w.text for w in policy.hours)
                return Decision(Action.VACATE, f"outside its hours ({hours}){when}", 0.0)
            if where.closes is not None:
                window = max(0.0, (where.closes - seen.wall).total_seconds())
        if self._phase is _Phase.RUNNING:
            stop = self._why_stop(seen, policy)
            if stop is None:
                return Decision(Action.RUN, "", window)
            self._phase = _Phase.SUSPENDED
            self._suspended_at = now
            return Decision(Action.SUSPEND, stop, window)
        if self._phase is _Phase.SUSPENDED:
            held = self._why_not_resume(seen, policy)
            if held is None:
                return self._run(seen, window)
            if now - self._suspended_at >= policy.vacate_after:
                self._phase = _Phase.WAITING
                span = duration_text(policy.vacate_after)
                return Decision(
                    Action.VACATE, f"suspended for {span}, work handed back: {held}", window
                )
            return Decision(Action.SUSPEND, held, window)
        waiting = self._why_not_start(seen, policy)
        if waiting is None:
            return self._run(seen, window)
        return Decision(Action.VACATE, waiting, window)

    def _run(self, seen: Observation, window: float | None) -> Decision:
        self._phase = _Phase.RUNNING
        idle = seen.idle_seconds
        self._input_mark = seen.monotonic - idle if idle is not None else seen.monotonic
        return Decision(Action.RUN, "", window)

    def _track_load(self, seen: Observation, policy: Policy) -> None:
        if seen.load_per_core > policy.max_load:
            self._load_last_over = seen.monotonic
            if self._load_over_since is None:
                self._load_over_since = seen.monotonic
        else:
            self._load_over_since = None

    def _load_words(self, seen: Observation, policy: Policy) -> str:
        # Two decimals at most, so that 0.34 over 0.3 does not read "0.3 over 0.3".
        load = f"{seen.load_per_core:.2f}".rstrip("0").rstrip(".")
        return f"load {load} per core over {policy.max_load:g}"

    def _why_stop(self, seen: Observation, policy: Policy) -> str | None:
        """Why running work must be suspended now, or None."""
        idle, mark = seen.idle_seconds, self._input_mark
        if idle is not None and mark is not None and seen.monotonic - idle > mark + INPUT_TOLERANCE:
            return f"the owner is back: input {ago(idle)} ago"
        if seen.on_battery and policy.on_battery is OnBattery.STOP:
            return "on battery"
        over = self._load_over_since
        if over is not None and seen.monotonic - over >= LOAD_SUSTAIN:
            return self._load_words(seen, policy)
        return None

    def _why_not_resume(self, seen: Observation, policy: Policy) -> str | None:
        """Why suspended work must stay suspended, or None."""
        idle = seen.idle_seconds
        if idle is not None and idle < policy.resume_after:
            return f"the owner is back: input {ago(idle)} ago"
        if seen.on_battery and policy.on_battery is OnBattery.STOP:
            return "on battery"
        if seen.load_per_core > policy.max_load:
            return self._load_words(seen, policy)
        over = self._load_last_over
        if over is not None and seen.monotonic - over < LOAD_CALM:
            return f"load under {policy.max_load:g} per core for less than {LOAD_CALM:g} s"
        return None

    def _why_not_start(self, seen: Observation, policy: Policy) -> str | None:
        """Why the node, holding nothing, must not take work yet, or None."""
        idle = seen.idle_seconds
        if idle is not None and idle < policy.idle_after:
            wait = duration_text(policy.idle_after)
            return f"in use: input {ago(idle)} ago; works after {wait} without input"
        if seen.on_battery and policy.on_battery is OnBattery.STOP:
            return "on battery"
        if seen.load_per_core > policy.max_load:
            return self._load_words(seen, policy)
        return None
