"""The owner loop: what the policy decides reaches the agent's work once per change, and the hub
hears the node's availability (suspended only while it holds frozen work), its reason and its
window, when they change and every minute."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from witengine.node.owner import REPORT_SECONDS, OwnerLoop, for_policy
from witengine.node.policy import PAUSED, Action, Decision, Observation, Policy
from witengine.protocol import NodeStatus
from witengine.protocol.states import Availability
from witengine.testing.clock import FakeClock

WEEK = [0.5] * 168


class Scripted:
    """A governor that answers what the test sets."""

    def __init__(self) -> None:
        self.decision = Decision(Action.RUN, "")

    def decide(self, seen: Observation) -> Decision:
        return self.decision


class FakeWork:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.reports: list[NodeStatus] = []
        self.held = False

    def holding(self) -> bool:
        return self.held

    async def thaw(self) -> None:
        self.calls.append("thaw")

    async def freeze(self) -> None:
        self.calls.append("freeze")

    async def hand_back(self) -> None:
        self.calls.append("hand_back")
        self.held = False

    def report(self, status: NodeStatus) -> None:
        self.reports.append(status)


def seen() -> Observation:
    return Observation(datetime(2026, 12, 7, tzinfo=UTC), 0.0, None, 0.0, False)


def loop(governor: Scripted, work: FakeWork, clock: FakeClock) -> OwnerLoop:
    return OwnerLoop(
        governor, seen, work, clock, policy={"idle-after": "15m"}, week=lambda: list(WEEK)
    )


async def test_each_change_of_decision_reaches_the_work_once() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    script = [Action.RUN, Action.RUN, Action.SUSPEND, Action.SUSPEND, Action.RUN]
    script += [Action.SUSPEND, Action.VACATE, Action.VACATE, Action.RUN]
    for action in script:
        governor.decision = Decision(action, "")
        await owner.step()
        clock.advance(0.25)
    assert work.calls == ["thaw", "freeze", "thaw", "freeze", "hand_back", "thaw"]
    assert owner.may_work


async def test_a_node_is_suspended_only_while_it_holds_frozen_work() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    await owner.step()
    assert [s.availability for s in work.reports] == [Availability.AVAILABLE]
    work.held = True
    governor.decision = Decision(Action.SUSPEND, "the owner is back: input 0 s ago")
    await owner.step()
    assert work.reports[-1].availability is Availability.SUSPENDED
    assert work.reports[-1].reason == "the owner is back: input 0 s ago"
    work.held = False  # the hub called its batch back (a copy finished elsewhere)
    clock.advance(0.25)
    await owner.step()
    assert work.reports[-1].availability is Availability.UNAVAILABLE
    governor.decision = Decision(Action.VACATE, "suspended for 10m")
    clock.advance(0.25)
    await owner.step()
    assert work.reports[-1].availability is Availability.UNAVAILABLE
    assert work.reports[-1].reason == "suspended for 10m", "unavailable still, for another reason"


async def test_the_status_carries_the_policy_the_week_and_the_window_and_is_sent_again() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    governor.decision = Decision(Action.RUN, "", 3600.0)
    await owner.step()
    (first,) = work.reports
    assert first.policy == {"idle-after": "15m"} and first.week == WEEK
    assert first.window_seconds == 3600.0
    for _ in range(10):  # the window closes as time passes: nothing new to tell
        clock.advance(1.0)
        governor.decision = Decision(Action.RUN, "", 3600.0 - clock.now())
        await owner.step()
    assert len(work.reports) == 1
    governor.decision = Decision(Action.RUN, "", 7200.0)  # the window's end moved
    await owner.step()
    assert [s.window_seconds for s in work.reports] == [3600.0, 7200.0]
    clock.advance(REPORT_SECONDS)
    governor.decision = Decision(Action.RUN, "", 7200.0 - REPORT_SECONDS)
    await owner.step()
    assert len(work.reports) == 3, "every minute, to keep the hub's window fresh"
    assert owner.status.week == WEEK


async def test_a_policy_with_a_file_idle_source_waits_for_the_owner_to_leave(
    tmp_path: Path,
) -> None:
    touched = tmp_path / "input"
    touched.touch()
    policy = Policy(idle_after=900.0, idle_source=f"file:{touched}")
    work = FakeWork()
    owner = for_policy(policy, work, FakeClock())
    await owner.step()
    assert work.calls == ["hand_back"]
    (status,) = work.reports
    assert status.availability is Availability.UNAVAILABLE
    assert status.reason.startswith("in use: input")
    assert status.policy["idle-source"] == f"file:{touched}"
    assert len(status.week) == 168


async def test_a_look_that_fails_is_logged_once_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock(autojump=True)
    looks = 0

    def observe() -> Observation:
        nonlocal looks
        looks += 1
        if looks in (2, 3, 4):
            raise OSError("a reading failed")
        return seen()

    owner = OwnerLoop(governor, observe, work, clock, policy={}, week=lambda: [])
    running = asyncio.create_task(owner.run())
    while looks < 6:
        await asyncio.sleep(0)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert work.calls == ["thaw"]
    assert caplog.text.count("looking at the machine failed") == 1, "logged once, not each time"


async def test_another_reason_is_told_at_once_but_not_the_same_one_a_second_older() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    for reason in [
        "outside its hours (Mon-Fri 20:00-08:00); opens Mon 20:00",
        "in use: input 3 s ago; works after 15m without input",
        "in use: input 4 s ago; works after 15m without input",
        "in use: input 5.5 s ago; works after 15m without input",
        "load 1.2 per core over 0.3",
    ]:
        governor.decision = Decision(Action.VACATE, reason)
        await owner.step()
        clock.advance(1.0)
    told = [status.reason.split(" ")[0] for status in work.reports]
    assert told == ["outside", "in", "load"]


async def test_a_pause_overrides_the_policy_and_resume_gives_the_decision_back() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    await owner.step()
    work.held = True
    await owner.pause()
    assert work.calls == ["thaw", "freeze"] and owner.paused
    assert (work.reports[-1].availability, work.reports[-1].reason) == (
        Availability.SUSPENDED,
        PAUSED,
    )
    governor.decision = Decision(Action.SUSPEND, "the owner is back: input 1 s ago")
    await owner.resume()  # the policy decides again: the owner is at the keyboard
    assert not owner.paused and work.calls[-1] == "freeze"
    assert work.reports[-1].reason == "the owner is back: input 1 s ago"
    governor.decision = Decision(Action.RUN, "")
    await owner.step()
    assert work.calls[-1] == "thaw"


async def test_a_paused_node_holding_nothing_is_unavailable() -> None:
    governor, work, clock = Scripted(), FakeWork(), FakeClock()
    owner = loop(governor, work, clock)
    await owner.pause()
    assert work.reports[-1].availability is Availability.UNAVAILABLE
    assert work.reports[-1].reason == PAUSED
