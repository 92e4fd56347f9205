"""The index of predicted finishes: the entry it names is the one a scan of every entry names,
whatever the order of changes, removals and queries, ties and a clock going back included."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from witengine.scheduling.finishes import FinishIndex, Latest, predicted_end

OWNERS = ["node_a", "node_b", "node_c", "node_d"]
TIMES = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])  # few values: many ties


@dataclass(frozen=True)
class Entry:
    owner: str
    end: float
    needed: float
    stall_at: float


def scanned(entries: dict[int, Entry], now: float, skip: str) -> tuple[int, bool, float] | None:
    """The definition: the greatest (stalled, predicted end), the smallest key among equals."""
    best: tuple[bool, float, int] | None = None
    for key, entry in entries.items():
        if entry.owner == skip:
            continue
        end = entry.end if entry.end >= now else now + entry.needed
        rank = (now > entry.stall_at, end, -key)
        if best is None or rank > best:
            best = rank
    return None if best is None else (-best[2], best[0], best[1])


def answer(found: Latest[int] | None) -> tuple[int, bool, float] | None:
    return None if found is None else (found.item, found.stalled, found.end)


def test_a_stalled_entry_comes_before_any_that_ends_later() -> None:
    index: FinishIndex[int] = FinishIndex()
    index.put(1, 1, "node_a", end=10.0, needed=9.0, stall_at=20.0)
    index.put(2, 2, "node_b", end=3.0, needed=2.0, stall_at=2.0)
    assert answer(index.latest(1.0)) == (1, False, 10.0)
    assert answer(index.latest(2.5)) == (2, True, 3.0)


def test_a_late_entry_is_predicted_to_need_all_its_work_from_now() -> None:
    index: FinishIndex[int] = FinishIndex()
    index.put(1, 1, "node_a", end=4.0, needed=3.0, stall_at=50.0)
    index.put(2, 2, "node_b", end=5.0, needed=1.0, stall_at=50.0)
    assert answer(index.latest(4.5)) == (1, False, 7.5)  # late: 4.5 + 3.0, beats 5.0


def test_the_smallest_key_wins_a_tie_even_when_two_works_round_to_one_end() -> None:
    index: FinishIndex[int] = FinishIndex()
    now = 2.0**53  # one unit in the last place is 2 here: 0.25 and 0.5 both round away
    index.put(7, 7, "node_a", end=1.0, needed=0.5, stall_at=now * 2)
    index.put(3, 3, "node_b", end=1.0, needed=0.25, stall_at=now * 2)
    assert answer(index.latest(now)) == (3, False, now)


def test_the_entries_of_the_node_asking_are_left_out() -> None:
    index: FinishIndex[int] = FinishIndex()
    index.put(1, 1, "node_a", end=9.0, needed=9.0, stall_at=20.0)
    index.put(2, 2, "node_b", end=4.0, needed=4.0, stall_at=20.0)
    assert answer(index.latest(0.0, skip="node_a")) == (2, False, 4.0)
    assert answer(index.latest(0.0, skip="node_c")) == (1, False, 9.0)
    index.remove(2)
    assert index.latest(0.0, skip="node_a") is None


class IndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.index: FinishIndex[int] = FinishIndex()
        self.entries: dict[int, Entry] = {}
        self.now = 0.0

    @rule(
        key=st.integers(0, 12),
        owner=st.sampled_from(OWNERS),
        end=TIMES,
        needed=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
        stall_at=TIMES,
    )
    def put(self, key: int, owner: str, end: float, needed: float, stall_at: float) -> None:
        self.entries[key] = Entry(owner, end, needed, stall_at)
        self.index.put(key, key, owner, end=end, needed=needed, stall_at=stall_at)

    @rule(key=st.integers(0, 12))
    def remove(self, key: int) -> None:
        self.entries.pop(key, None)
        self.index.remove(key)

    @rule(step=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]), back=st.booleans())
    def time_passes(self, step: float, back: bool) -> None:
        """Mostly forward; now and then the caller's clock goes back."""
        self.now = max(0.0, self.now - step) if back and step <= 0.5 else self.now + step

    @rule(skip=st.sampled_from(["", *OWNERS]))
    def ask(self, skip: str) -> None:
        expected = scanned(self.entries, self.now, skip)
        assert answer(self.index.latest(self.now, skip)) == expected

    @rule()
    def ask_for_the_last_end(self) -> None:
        ends = [predicted_end(e.end, e.needed, self.now) for e in self.entries.values()]
        assert self.index.last_end(self.now) == max(ends, default=None)

    @invariant()
    def names_what_a_scan_names(self) -> None:
        assert len(self.index) == len(self.entries)
        assert answer(self.index.latest(self.now)) == scanned(self.entries, self.now, "")


TestIndex = IndexMachine.TestCase
TestIndex.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
