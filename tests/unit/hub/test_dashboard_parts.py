"""The dashboard's pure parts: the watch's record of batches and items from node messages, the
timeline's lanes, the item grid's cells, throughput buckets, the event tail and the highlighter."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import pytest

from witengine.hub.dashboard.charts import gantt, item_cells
from witengine.hub.dashboard.highlight import highlight
from witengine.hub.dashboard.tail import Tail
from witengine.hub.dashboard.views import LISTED_FIRST
from witengine.hub.dashboard.watch import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    Buckets,
    FarmWatch,
)
from witengine.hub.dispatch import MapInfo
from witengine.protocol import (
    Assign,
    BatchFinished,
    CancelBatch,
    Heartbeat,
    NodeStatus,
    Results,
    TaskResult,
    TaskSpec,
)
from witengine.protocol.events import JobFinished, parse_event
from witengine.protocol.states import Availability, JobStatus, NodeState

SHA = "ab" * 32


@dataclass
class Dispatcher:
    """What the watch reads of a dispatcher, set by hand."""

    maps: dict[str, MapInfo] = field(default_factory=dict)
    leases: set[str] = field(default_factory=set)
    connected: set[str] = field(default_factory=set)

    def node_name(self, node_id: str) -> str:
        return node_id.removeprefix("node_")

    def map_info(self, map_id: str) -> MapInfo | None:
        return self.maps.get(map_id)

    def lease_alive(self, batch_id: str) -> bool:
        return batch_id in self.leases

    def node_connected(self, node_id: str) -> bool:
        return node_id in self.connected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def assign(batch: str, indices: list[int], attempt: int = 1) -> Assign:
    tasks = [TaskSpec(map_id="map_1", index=i, attempt=attempt, args=[i]) for i in indices]
    return Assign(
        batch_id=batch, job_id="job_1", activity="Compute.Sleep", tasks=tasks, lease_seconds=30
    )


def result(index: int, ok: bool = True, value: object = 1, seconds: float = 0.5) -> TaskResult:
    return TaskResult(
        map_id="map_1",
        index=index,
        attempt=1,
        ok=ok,
        value=value,
        error=None if ok else "boom",
        seconds=seconds,
    )


@pytest.fixture
def farm() -> tuple[FarmWatch, Dispatcher, Clock]:
    dispatcher = Dispatcher(
        maps={"map_1": MapInfo("job_1", "Compute.Sleep", 6, frozenset({5}))},
        connected={"node_a", "node_b"},
    )
    clock = Clock()
    return FarmWatch(dispatcher, clock), dispatcher, clock


def test_the_watch_follows_a_batch_from_assignment_to_its_end(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, _, clock = farm
    watch.observe("node_a", assign("b1", [0, 1, 2]))
    job = watch.job("job_1")
    assert job is not None
    states = job.maps["map_1"].states
    assert list(states) == [RUNNING, RUNNING, RUNNING, PENDING, PENDING, DONE]  # 5: committed
    clock.now += 2
    blob = {"sha256": SHA, "size": 9, "name": "frame-0001.png"}
    watch.observe(
        "node_a", Results(batch_id="b1", results=[result(0, value=blob), result(1, False)])
    )
    assert list(states)[:3] == [DONE, FAILED, RUNNING]
    assert job.maps["map_1"].errors == {1: "boom"}
    assert [(o.index, o.name) for o in job.outputs] == [(0, "frame-0001.png")]
    clock.now += 1
    watch.observe("node_a", BatchFinished(batch_id="b1"))
    batch = job.batches[0]
    assert (batch.outcome, batch.done, batch.failed, batch.ended) == ("finished", 1, 1, 1003.0)
    assert list(states)[:3] == [DONE, FAILED, PENDING]  # what it left went back to the queue
    assert watch.rate("node_a", "Compute.Sleep") == pytest.approx(2.0)  # 2 items in 1 s
    assert watch.nodes["node_a"].last_heard == 1003.0 and watch.running == {}


def test_a_cancelled_or_expired_batch_says_so_and_a_retry_is_marked(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, _, _ = farm
    watch.observe("node_a", assign("b1", [0]))
    watch.observe("node_b", assign("b2", [1]))
    watch.observe("node_a", CancelBatch(batch_id="b1", reason="lease expired"))
    watch.observe("node_b", CancelBatch(batch_id="b2", reason="no longer needed"))
    watch.observe("node_b", assign("b3", [0], attempt=2))
    job = watch.job("job_1")
    assert job is not None
    assert [(b.id, b.outcome, b.retry) for b in job.batches] == [
        ("b1", "expired", False),
        ("b2", "cancelled", False),
        ("b3", "running", True),
    ]


def test_a_duplicate_names_the_node_whose_work_it_copies_and_how_its_race_ended(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, _, clock = farm
    watch.observe("node_a", assign("b1", [0, 1, 2]))
    watch.observe("node_a", assign("b2", [3]))
    watch.observe("node_b", assign("b3", [2]))  # the same attempt of item 2: a duplicate
    watch.observe("node_b", assign("b4", [3]))  # and of item 3
    watch.observe("node_c", assign("b5", [0], attempt=2))  # a new attempt: a takeover, no copy
    clock.now += 2
    watch.observe("node_b", Results(batch_id="b3", results=[result(2)]))
    watch.observe("node_b", BatchFinished(batch_id="b3"))  # b3 won item 2
    watch.observe("node_a", Results(batch_id="b2", results=[result(3)]))
    reason = "another node finished its items first"
    watch.observe("node_b", CancelBatch(batch_id="b4", reason=reason))  # b4 lost item 3
    job = watch.job("job_1")
    assert job is not None
    assert [(b.id, b.duplicate_of) for b in job.batches] == [
        ("b1", ()),
        ("b2", ()),
        ("b3", ("a",)),
        ("b4", ("a",)),
        ("b5", ()),
    ]
    chart = gantt(list(job.batches), clock.now)
    bars = {bar.title.split(" ")[0]: bar for bar in chart.bars}
    assert [b for b, bar in bars.items() if bar.duplicate] == ["b3", "b4"]
    assert [b for b, bar in bars.items() if "bar-duplicate" in bar.css.split()] == ["b3", "b4"]
    assert bars["b3"].title.endswith("; duplicate of work on a: won, its results came first")
    assert bars["b4"].title.endswith(
        f"cancelled ({reason}); duplicate of work on a: cancelled, the other copy finished first"
    )
    assert "duplicate" not in bars["b5"].title and "tried before" in bars["b5"].title
    assert chart.summary.endswith("; 2 duplicate(s), 1 of which won")


def python_calls(action: Callable[[], None]) -> int:
    """How many Python functions `action` calls (generators count once per resumption). The
    garbage collector is off meanwhile: a collection that happens to run inside `action` calls
    finalizers of objects that are not its own."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    gc.collect()
    gc.disable()
    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
        gc.enable()
    return calls


def watch_with(running: int) -> FarmWatch:
    """A watch that saw `running` batches of one map, two items each, sent to as many nodes,
    then one to node a with item 1."""
    maps = {"map_1": MapInfo("job_1", "Compute.Sleep", 0, frozenset())}
    watch = FarmWatch(Dispatcher(maps=maps), Clock())
    for number in range(1, running):
        watch.observe(f"node_{number}", assign(f"b{number}", [2 * number, 2 * number + 1]))
    watch.observe("node_a", assign("b0", [0, 1]))
    return watch


def test_a_new_batch_costs_the_watch_the_same_however_many_are_running() -> None:
    """A duplicate is found from the new batch's own items: reading every running batch for
    each new one made the hub's first round of a 100,000-item map to 200 nodes take seconds."""
    few, many = watch_with(10), watch_with(1000)
    new = assign("new", [1, 5000])  # a copy of item 1, still out on node a
    assert python_calls(lambda: few.observe("node_b", new)) == python_calls(
        lambda: many.observe("node_b", new)
    )
    for watch in (few, many):
        assert watch.running["new"].duplicate_of == ("a",)
        for batch_id in list(watch.running):
            watch.observe("node_a", BatchFinished(batch_id=batch_id))
        assert watch.running == {} and watch.holding == {}, "what ended is forgotten"


def test_a_batch_whose_node_left_and_whose_lease_vanished_is_lost(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, dispatcher, _ = farm
    watch.observe("node_a", assign("b1", [0]))
    dispatcher.leases.add("b1")
    watch.observe("node_a", Heartbeat())
    dispatcher.connected.discard("node_a")
    watch.sync()
    assert "b1" in watch.running  # the node may come back and claim it
    dispatcher.leases.clear()
    watch.sync()
    job = watch.job("job_1")
    assert job is not None and job.batches[0].outcome == "lost"


def test_the_watch_keeps_a_bounded_number_of_jobs() -> None:
    watch = FarmWatch(Dispatcher(), Clock(), jobs_kept=2)
    for n in range(4):
        message = assign(f"b{n}", [0]).model_copy(update={"job_id": f"job_{n}"})
        watch.observe("node_a", message)
    assert list(watch.jobs) == ["job_2", "job_3"]


def test_buckets_count_items_per_second_over_a_window() -> None:
    buckets = Buckets(width=5.0, kept=3)
    for at in (0.0, 1.0, 6.0, 11.0, 12.0):
        buckets.add(at, 10)
    assert buckets.series(12.0, 3) == [(0.0, 20), (5.0, 10), (10.0, 20)]
    buckets.add(16.0, 1)  # bucket 3: bucket 0 falls out
    assert [c for _, c in buckets.series(16.0, 4)] == [0, 10, 20, 1]
    assert buckets.per_second(16.0, seconds=10.0) == pytest.approx(21 / 6.0)


def test_a_nodes_overlapping_batches_take_separate_lanes_of_its_row(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, _, clock = farm
    watch.observe("node_a", assign("b1", [0, 1]))
    watch.observe("node_a", assign("b2", [2]))  # queued behind b1 on the same node
    clock.now += 4
    watch.observe("node_a", BatchFinished(batch_id="b1"))
    watch.observe("node_a", assign("b3", [3]))  # b1's lane is free again
    watch.observe("node_b", assign("b4", [4]))
    clock.now += 4
    job = watch.job("job_1")
    assert job is not None
    chart = gantt(list(job.batches), clock.now)
    tops = {bar.title.split(" ")[0]: bar.y for bar in chart.bars}
    assert tops["b1"] == tops["b3"] != tops["b2"]
    assert [name for name, _ in chart.rows] == ["a", "b"]
    assert tops["b4"] > tops["b2"]
    assert "4 batch(es) on 2 node(s)" in chart.summary
    assert gantt([], 0.0).summary == "no batches yet"


@pytest.mark.parametrize(
    ("states", "cells", "first_state", "title"),
    [
        (bytes([DONE, RUNNING, PENDING, FAILED]), 4, "done", "item 0: done"),
        (bytes([DONE] * 10_000), 1000, "done", "items 0–9: 10 done"),
        (bytes([DONE] * 9 + [FAILED]) * 1000, 1000, "failed", "items 0–9: 9 done, 1 failed"),
        (bytes([PENDING] * 5 + [RUNNING] * 5) * 1000, 1000, "running", "items 0–9: 5 pending"),
    ],
)
def test_the_item_grid_never_draws_more_than_a_thousand_cells(
    states: bytes, cells: int, first_state: str, title: str
) -> None:
    drawn = item_cells(states)
    assert len(drawn) == cells
    assert drawn[0].state == first_state and drawn[0].title.startswith(title)
    assert drawn[-1].last == len(states) - 1


def test_the_tail_tracks_running_statements_and_progress() -> None:
    tail = Tail()
    events = [
        {"kind": "statement_started", "line": 3, "text": "ForEach"},
        {"kind": "statement_started", "line": 5, "text": "x"},
        {"kind": "progress_reported", "line": 5, "activity": "A", "done": 2, "total": 10},
        {"kind": "statement_started", "line": 6, "text": "y"},
        {"kind": "statement_finished", "line": 5},  # 6 ended without saying so
    ]
    for seq, data in enumerate(events, 1):
        event = parse_event(data)
        assert event is not None
        tail.add(seq, event)
    assert tail.running == [3] and tail.done_total == (2, 10) and tail.seen == 5
    tail.add(6, JobFinished(status=JobStatus.COMPLETED))
    assert tail.running == []


def test_the_highlighter_keeps_every_character_and_colours_the_parts() -> None:
    source = 'Job:A(Int:n = 2)\n{\n    ~ a\n comment ~ Trace("hi\\"");\n    x = n => 1.5;\n}\n'
    lines = highlight(source)
    assert "\n".join("".join(p.text for p in line) for line in lines) + "\n" == source
    css = {(p.css, p.text) for line in lines for p in line}
    assert {("kw", "Job"), ("ty", "Int"), ("nu", "2"), ("cm", "~ a"), ("cm", " comment ~")} <= css
    assert {("st", '"hi\\""'), ("kw", "=>"), ("nu", "1.5")} <= css
    assert highlight('"open') == [[highlight('"open')[0][0]]]  # an unclosed string still shows


def test_a_node_is_heard_from_by_its_heartbeats_and_its_owner_policys_news(
    farm: tuple[FarmWatch, Dispatcher, Clock],
) -> None:
    watch, _, clock = farm
    watch.observe("node_a", Heartbeat())
    assert watch.nodes["node_a"].last_heard == 1000.0
    clock.now = 1010.0
    watch.observe("node_a", NodeStatus(availability=Availability.SUSPENDED, reason="owner"))
    assert watch.nodes["node_a"].last_heard == 1010.0


def test_every_node_state_has_its_place_in_the_node_list() -> None:
    assert sorted(LISTED_FIRST) == sorted(NodeState)
