"""The owner policy's every rule, driven by made-up observations on a fake clock: when work
starts, suspends at once on input, resumes only after a quiet spell (a twitching mouse does not
flap it), vacates after a long suspension or when the window closes, and stops on battery or
under others' sustained load."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from witengine.node.hours import parse_window
from witengine.node.policy import (
    LOAD_CALM,
    LOAD_SUSTAIN,
    Action,
    Governor,
    Observation,
    OnBattery,
    Policy,
    ago,
    duration_text,
)
from witengine.protocol.states import Availability

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY_NOON = datetime(2026, 12, 9, 12, 0, tzinfo=BERLIN)


@dataclass
class Machine:
    """A desk whose owner types, walks away, plugs in: time moves only when the test says."""

    start: datetime = WEDNESDAY_NOON
    now: float = 0.0
    last_input: float | None = -3600.0  # monotonic moment of the last input; None: no desktop
    load: float = 0.0
    on_battery: bool = False
    seen: list[Observation] = field(default_factory=list)

    def observe(self) -> Observation:
        idle = None if self.last_input is None else self.now - self.last_input
        return Observation(
            wall=self.start + timedelta(seconds=self.now),
            monotonic=self.now,
            idle_seconds=idle,
            load_per_core=self.load,
            on_battery=self.on_battery,
        )

    def touch(self) -> None:
        self.last_input = self.now

    def wait(self, seconds: float, governor: Governor, step: float = 0.25) -> Action:
        """Let time pass, the governor polled every `step` seconds as the agent does."""
        action = governor.decide(self.observe()).action
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            action = governor.decide(self.observe()).action
        return action


def running(policy: Policy, machine: Machine) -> Governor:
    governor = Governor(policy)
    assert governor.decide(machine.observe()).action is Action.RUN
    return governor


def test_a_node_without_a_policy_always_runs() -> None:
    machine = Machine(last_input=0.0, load=5.0, on_battery=True)
    decision = Governor(None).decide(machine.observe())
    assert (decision.action, decision.reason, decision.window_seconds) == (Action.RUN, "", None)


def test_work_starts_only_after_idle_after_without_input() -> None:
    machine = Machine(last_input=0.0)
    governor = Governor(Policy(idle_after=900))
    first = governor.decide(machine.observe())
    assert first.action is Action.VACATE
    assert first.availability is Availability.UNAVAILABLE
    assert first.reason == "in use: input 0 s ago; works after 15m without input"
    assert machine.wait(899, governor) is Action.VACATE
    assert machine.wait(1, governor) is Action.RUN


def test_a_machine_without_a_desktop_counts_as_idle() -> None:
    machine = Machine(last_input=None)
    assert Governor(Policy()).decide(machine.observe()).action is Action.RUN


def test_input_suspends_running_work_at_the_next_poll() -> None:
    machine = Machine()
    governor = running(Policy(), machine)
    machine.wait(60, governor)
    machine.touch()
    machine.now += 0.25
    decision = governor.decide(machine.observe())
    assert decision.action is Action.SUSPEND
    assert decision.availability is Availability.SUSPENDED
    assert decision.reason == "the owner is back: input 0 s ago"


def test_input_just_after_a_resume_suspends_again() -> None:
    machine = Machine()
    governor = running(Policy(resume_after=300), machine)
    machine.touch()
    assert machine.wait(300, governor) is Action.RUN  # resumed after five quiet minutes
    machine.now += 0.5
    machine.touch()
    assert governor.decide(machine.observe()).action is Action.SUSPEND


def test_an_idle_source_that_rounds_to_the_second_does_not_suspend_work() -> None:
    machine = Machine()
    governor = running(Policy(), machine)
    for step in range(1, 200):
        machine.now = step * 0.25
        rounded = replace(machine.observe(), idle_seconds=float(int(3600 + machine.now)))
        assert governor.decide(rounded).action is Action.RUN


def test_suspended_work_resumes_only_after_resume_after_without_input() -> None:
    machine = Machine()
    governor = running(Policy(resume_after=300, vacate_after=600), machine)
    machine.touch()
    assert machine.wait(299, governor) is Action.SUSPEND
    assert machine.wait(1, governor) is Action.RUN


def test_a_twitching_mouse_keeps_work_suspended_and_does_not_flap() -> None:
    machine = Machine()
    governor = running(Policy(resume_after=300, vacate_after=3600), machine)
    actions = []
    for _ in range(20):  # the mouse moves every 30 s for ten minutes
        machine.touch()
        actions.append(machine.wait(30, governor))
    assert set(actions) == {Action.SUSPEND}


def test_work_suspended_for_vacate_after_is_handed_back() -> None:
    machine = Machine()
    governor = running(Policy(resume_after=300, vacate_after=600), machine)
    machine.touch()
    assert governor.decide(machine.observe()).action is Action.SUSPEND  # at 0 s
    machine.now += 0.25
    for _ in range(9):  # the owner works on, touching something every minute
        machine.wait(60, governor)
        machine.touch()
    assert machine.wait(59.5, governor) is Action.SUSPEND
    machine.now += 0.25
    decision = governor.decide(machine.observe())
    assert decision.action is Action.VACATE
    assert decision.reason == (
        "suspended for 10m, work handed back: the owner is back: input 60 s ago"
    )


def test_after_vacating_work_starts_again_only_after_idle_after() -> None:
    machine = Machine()
    governor = running(Policy(idle_after=900, resume_after=300, vacate_after=600), machine)
    for _ in range(11):  # the owner is back for eleven minutes
        machine.touch()
        machine.wait(60, governor)
    assert governor.decide(machine.observe()).action is Action.VACATE
    assert machine.wait(300, governor) is Action.VACATE  # quiet for 6 min: enough to resume,
    assert machine.wait(540, governor) is Action.RUN  # not to start again (15 min)


def test_the_window_closing_vacates_at_once_and_says_when_it_opens() -> None:
    policy = Policy(hours=(parse_window("Mon-Fri 20:00-08:00"),))
    machine = Machine(start=datetime(2026, 12, 9, 7, 59, tzinfo=BERLIN))
    governor = running(policy, machine)
    assert governor.decide(machine.observe()).window_seconds == 60
    machine.now = 60
    decision = governor.decide(machine.observe())
    assert decision.action is Action.VACATE
    assert decision.reason == "outside its hours (Mon-Fri 20:00-08:00); opens Wed 20:00"
    assert decision.window_seconds == 0
    machine.now = 12 * 3600 + 60
    assert governor.decide(machine.observe()).action is Action.RUN


def test_window_seconds_counts_real_seconds_across_a_daylight_saving_change() -> None:
    policy = Policy(hours=(parse_window("20:00-08:00"),))
    machine = Machine(start=datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN))  # clocks go forward
    decision = running(policy, machine).decide(machine.observe())
    assert decision.window_seconds == 9 * 3600


def test_a_policy_without_hours_has_no_window_end() -> None:
    machine = Machine()
    assert running(Policy(), machine).decide(machine.observe()).window_seconds is None


def test_on_battery_suspends_then_vacates_and_mains_resumes() -> None:
    machine = Machine()
    governor = running(Policy(vacate_after=600), machine)
    machine.on_battery = True
    decision = governor.decide(machine.observe())
    assert (decision.action, decision.reason) == (Action.SUSPEND, "on battery")
    machine.on_battery = False
    assert governor.decide(machine.observe()).action is Action.RUN
    machine.on_battery = True
    assert machine.wait(600, governor) is Action.VACATE


def test_on_battery_with_run_keeps_working() -> None:
    machine = Machine(on_battery=True)
    governor = running(Policy(on_battery=OnBattery.RUN), machine)
    assert machine.wait(60, governor) is Action.RUN


def test_a_node_on_battery_does_not_start() -> None:
    machine = Machine(on_battery=True)
    decision = Governor(Policy()).decide(machine.observe())
    assert (decision.action, decision.reason) == (Action.VACATE, "on battery")


def test_a_load_spike_shorter_than_the_sustain_does_not_suspend() -> None:
    machine = Machine()
    governor = running(Policy(max_load=0.3), machine)
    machine.load = 1.2
    assert machine.wait(LOAD_SUSTAIN - 0.25, governor) is Action.RUN
    machine.load = 0.1
    assert machine.wait(10, governor) is Action.RUN


def test_a_sustained_load_suspends_and_a_calm_spell_resumes() -> None:
    machine = Machine()
    governor = running(Policy(max_load=0.3), machine)
    machine.load = 1.2
    assert machine.wait(LOAD_SUSTAIN, governor) is Action.SUSPEND
    assert governor.decide(machine.observe()).reason == "load 1.2 per core over 0.3"
    machine.load = 0.1
    assert machine.wait(LOAD_CALM - 0.25, governor) is Action.SUSPEND
    assert machine.wait(0.25, governor) is Action.RUN


@pytest.mark.parametrize(
    ("load", "words"), [(0.5, "0.5"), (0.34, "0.34"), (2.0, "2"), (1.237, "1.24")]
)
def test_a_loaded_machine_does_not_start(load: float, words: str) -> None:
    machine = Machine(load=load)
    decision = Governor(Policy(max_load=0.3)).decide(machine.observe())
    assert (decision.action, decision.reason) == (Action.VACATE, f"load {words} per core over 0.3")


def test_the_summary_spells_out_every_setting() -> None:
    policy = Policy(
        hours=(parse_window("Mon-Fri 20:00-08:00"), parse_window("Sat-Sun")),
        max_memory=4 * 1024**3,
        written=(("max-memory", "4GiB"),),
    )
    assert policy.summary() == {
        "hours": "Mon-Fri 20:00-08:00, Sat-Sun",
        "idle-after": "15m",
        "resume-after": "5m",
        "vacate-after": "10m",
        "max-load": "0.3",
        "on-battery": "stop",
        "max-cores": "all",
        "max-memory": "4GiB",
        "priority": "lowest",
        "idle-source": "auto",
    }


def test_the_week_of_a_policy_without_hours_is_all_open() -> None:
    assert Policy().week(BERLIN, WEDNESDAY_NOON) == [1.0] * 168
    office = Policy(hours=(parse_window("Sat-Sun"),))
    assert sum(office.week(BERLIN, WEDNESDAY_NOON)) == 48
    assert len(office.week(BERLIN)) == 168  # the week around now


def test_caps_and_worker_limits_follow_max_cores_max_memory_and_priority() -> None:
    policy = Policy(max_cores=2, max_memory=1024**3, priority=10)
    assert policy.caps(8, 16 * 1024**3) == (2, 1024**3)
    assert Policy().caps(8, 16 * 1024**3) == (8, 16 * 1024**3)
    assert policy.worker_limits() == (10, 1024**3)
    assert Policy().worker_limits() == (19, None)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (900, "15m"),
        (7200, "2h"),
        (5400, "1h30m"),
        (90, "90s"),
        (0, "0s"),
        (1.5, "1.5s"),
    ],
)
def test_durations_are_written_as_the_settings_write_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "words"), [(3.4, "3 s"), (119, "119 s"), (400, "6 min"), (7500, "2 h 5 min")]
)
def test_spans_in_reasons_are_in_words(seconds: float, words: str) -> None:
    assert ago(seconds) == words
