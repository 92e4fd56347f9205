"""What the hub publishes on the blackboard (`farm/…`): the values made from what it knows, and a
pass that writes only the facts that changed, withdrawing the plan of a job that ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from witengine.hub import turns
from witengine.hub.board import HUB, Board
from witengine.hub.board.facts import (
    KEYS_PER_TURN,
    FarmFacts,
    job_plans,
    node_doing,
    node_rates,
    ranges,
)
from witengine.hub.limits import Limits
from witengine.hub.store.base import NodeRecord, RateRecord
from witengine.hub.store.memory import MemoryStore
from witengine.testing.turns import turns_counted


@dataclass(frozen=True)
class Batch:
    job_id: str
    map_id: str
    node_id: str
    node_name: str
    activity: str
    indices: tuple[int, ...]


def rate(activity: str, value: float) -> RateRecord:
    return RateRecord("node_a", activity, "frames@1", value, 1.0, 3, "render", "1.0", 0.0)


def test_items_are_written_as_runs() -> None:
    assert ranges([5, 0, 2, 1, 7, 6]) == [[0, 2], [5, 7]]
    assert ranges([]) == []


def test_a_speed_table_has_each_activitys_benchmark_and_measured_speed() -> None:
    table = node_rates([rate("Render.Frame", 0.123456)], {"Render.Frame": 2.34567, "X.Y": 100.4})
    assert table == {
        "Render.Frame": {
            "benchmark": {"rate": 0.123, "unit": "frames@1"},
            "measured_items_per_second": 2.35,
        },
        "X.Y": {"measured_items_per_second": 100.0},
    }


def test_what_a_node_does_lists_its_batches_with_their_items() -> None:
    batches = [
        Batch("job_1", "map_1", "node_a", "box", "Render.Frame", (4, 5, 6)),
        Batch("job_1", "map_1", "node_a", "box", "Render.Frame", (0, 1)),
    ]
    assert node_doing("busy", "", batches) == {
        "state": "busy",
        "running": [
            {"job": "job_1", "map": "map_1", "activity": "Render.Frame", "items": [[0, 1]]},
            {"job": "job_1", "map": "map_1", "activity": "Render.Frame", "items": [[4, 6]]},
        ],
    }
    assert node_doing("suspended", "its owner is at the keyboard", []) == {
        "state": "suspended",
        "running": [],
        "reason": "its owner is at the keyboard",
    }


def test_a_jobs_plan_says_which_node_runs_which_items_and_what_each_did() -> None:
    batches = [
        Batch("job_1", "map_1", "node_a", "box", "Render.Frame", (0, 1, 2)),
        Batch("job_1", "map_1", "node_b", "mac", "Render.Frame", (3, 4)),
        Batch("job_1", "map_1", "node_a", "box", "Render.Frame", (9,)),
    ]
    plans = job_plans(batches, {"job_1": {"box": [7.0, 3.5]}}, ["job_1", "job_2"])
    assert plans == {
        "job_1": {
            "maps": {
                "map_1": {
                    "activity": "Render.Frame",
                    "nodes": {
                        "node_a": {"name": "box", "items": [[0, 2], [9, 9]]},
                        "node_b": {"name": "mac", "items": [[3, 4]]},
                    },
                }
            },
            "done": {"box": 7},
        },
        "job_2": {"maps": {}, "done": {}},
    }


@dataclass
class Farm:
    """The publisher's sources, as plain data a test changes."""

    running: dict[str, Any] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)

    def known(self, node_id: str) -> bool:
        return True

    def node_state(self, node_id: str) -> str:
        return "busy" if self.running else "idle"

    def node_reason(self, node_id: str) -> str:
        return ""

    def benchmarks(self, node_id: str) -> list[RateRecord]:
        return [rate("Render.Frame", 0.5)]

    def rates(self, node_id: str) -> dict[str, float]:
        return {}


def test_a_pass_writes_only_what_changed_and_withdraws_an_ended_jobs_plan() -> None:
    store = MemoryStore()
    board = Board(store, Limits(), lambda: 1.0)
    farm = Farm()
    node = NodeRecord("node_a", "box", {}, 0.0, 0.0)
    facts = FarmFacts(
        board,
        farm,
        farm,
        nodes=lambda: [node],
        running=lambda: farm.jobs,
        work=lambda job: {},
    )
    assert facts.publish() == 2  # the node's rates and what it does
    assert facts.publish() == 0
    farm.jobs = ["job_1"]
    farm.running = {"b1": Batch("job_1", "map_1", "node_a", "box", "Render.Frame", (0,))}
    assert facts.publish() == 2  # what the node does, and the job's plan
    plan = store.board_get("farm/jobs/job_1/plan")
    assert plan is not None and plan.writer == "hub"
    assert plan.value["maps"]["map_1"]["nodes"]["node_a"]["items"] == [[0, 0]]
    farm.jobs, farm.running = [], {}
    assert facts.publish() == 2
    ended = store.board_get("farm/jobs/job_1/plan")
    assert ended is not None and ended.deleted
    assert [e.key for e in board.keys("farm/")] == ["farm/nodes/node_a", "farm/rates/node_a"]


def test_a_forgotten_nodes_facts_and_plans_an_earlier_run_left_are_deleted() -> None:
    store = MemoryStore()
    board = Board(store, Limits(), lambda: 1.0)
    board.write("farm/jobs/job_old/plan", {"maps": {}}, HUB)  # left by the hub's last run
    farm = Farm()
    nodes = [NodeRecord("node_a", "box", {}, 0.0, 0.0)]
    facts = FarmFacts(
        board, farm, farm, nodes=lambda: nodes, running=lambda: [], work=lambda job: {}
    )
    assert facts.publish() == 3  # the node's two facts, and the old plan deleted
    assert [e.key for e in board.keys("farm/")] == ["farm/nodes/node_a", "farm/rates/node_a"]
    nodes.clear()  # forgotten
    assert facts.publish() == 2
    assert board.keys("farm/") == []


async def test_a_pass_over_many_nodes_lets_the_loop_turn_between_slices_of_keys() -> None:
    store = MemoryStore()
    board = Board(store, Limits(), lambda: 1.0)
    farm = Farm()
    count = KEYS_PER_TURN + 10  # two facts each: more than two turns' keys
    nodes = [NodeRecord(f"node_{n}", f"box{n}", {}, 0.0, 0.0) for n in range(count)]
    facts = FarmFacts(
        board, farm, farm, nodes=lambda: nodes, running=lambda: [], work=lambda job: {}
    )
    async with turns_counted() as looped:
        written = await facts.publish_in_turns()
    assert written == 2 * count  # each node's rates and what it does
    assert looped.counted >= 2  # the loop turned between the slices
    assert await facts.publish_in_turns() == 0  # nothing changed since


async def test_a_pass_turns_the_loop_when_a_turn_took_its_time_while_making_a_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a turn's time spent at every step, the loop turns between the plan's nodes too:
    a plan of a map of 100,000 items sorts every item in flight."""
    monkeypatch.setattr(turns, "TURN_SECONDS", 0.0)
    store = MemoryStore()
    board = Board(store, Limits(), lambda: 1.0)
    farm = Farm(jobs=["job_1"])
    nodes = [NodeRecord(f"node_{n}", f"box{n}", {}, 0.0, 0.0) for n in range(3)]
    farm.running = {
        f"b{n}": Batch("job_1", "map_1", f"node_{n}", f"box{n}", "Render.Frame", (n,))
        for n in range(3)
    }
    facts = FarmFacts(
        board, farm, farm, nodes=lambda: nodes, running=lambda: farm.jobs, work=lambda job: {}
    )
    async with turns_counted() as looped:
        assert await facts.publish_in_turns() == 2 * 3 + 1  # two facts a node, and the plan
    assert looped.counted >= 2 * 3 + 3 + 1  # a turn after each key and each node's part of the plan
