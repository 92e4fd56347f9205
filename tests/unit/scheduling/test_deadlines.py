"""Lease deadlines: the items due are exactly those a scan of every deadline finds, in key order,
however deadlines were extended and items removed."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from witengine.scheduling.deadlines import Deadlines


def test_items_are_due_once_their_deadline_passes_in_key_order() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.add(2, "b", 5.0)
    deadlines.add(1, "a", 7.0)
    deadlines.add(3, "c", 9.0)
    assert deadlines.due(4.9) == []
    assert deadlines.due(7.0) == ["a", "b"]
    assert deadlines.due(7.0) == []  # found due once
    assert len(deadlines) == 1


def test_an_extended_deadline_is_due_only_at_its_new_time() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.add(1, "a", 5.0)
    deadlines.extend(1, 8.0)
    deadlines.extend(1, 6.0)  # never earlier
    assert deadlines.due(7.9) == []
    assert deadlines.due(8.0) == ["a"]


def test_a_removed_item_is_never_due() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.add(1, "a", 5.0)
    deadlines.remove(1)
    deadlines.extend(1, 6.0)
    assert deadlines.due(10.0) == []
    assert len(deadlines) == 0


class DeadlinesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.deadlines: Deadlines[int] = Deadlines()
        self.expected: dict[int, float] = {}
        self.serial = 0
        self.now = 0.0

    @rule(lease=st.sampled_from([0.5, 1.0, 3.0, 10.0]))
    def add(self, lease: float) -> None:
        self.serial += 1
        self.expected[self.serial] = self.now + lease
        self.deadlines.add(self.serial, self.serial, self.now + lease)

    @rule(key=st.integers(1, 40), lease=st.sampled_from([0.5, 1.0, 3.0, 10.0]))
    def extend(self, key: int, lease: float) -> None:
        if key in self.expected:
            self.expected[key] = max(self.expected[key], self.now + lease)
        self.deadlines.extend(key, self.now + lease)

    @rule(key=st.integers(1, 40))
    def remove(self, key: int) -> None:
        self.expected.pop(key, None)
        self.deadlines.remove(key)

    @rule(step=st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]))
    def expire(self, step: float) -> None:
        self.now += step
        due = sorted(key for key, deadline in self.expected.items() if deadline <= self.now)
        assert self.deadlines.due(self.now) == due
        for key in due:
            del self.expected[key]
        assert len(self.deadlines) == len(self.expected)


TestDeadlines = DeadlinesMachine.TestCase
TestDeadlines.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
