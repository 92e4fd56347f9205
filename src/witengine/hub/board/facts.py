"""What the hub publishes on the blackboard of the farm it knows, under `farm/` (its own keys):

- `farm/rates/<node id>`: the node's speed table: per activity, its benchmark rate (unit per
  second) and the items per second per slot it was measured doing;
- `farm/nodes/<node id>`: what the node is doing now: its state (and why), and each batch it
  runs: job, map, activity and items;
- `farm/jobs/<job id>/plan`: which node runs which items of each of the job's maps now, and how
  many items each node committed for the job; deleted when the job ends.

Items are written as ranges, `[[0, 9], [20, 24]]`. The pure part (`node_rates`, `node_doing`,
`job_plans`, `ranges`) makes the values from what the hub knows; `FarmFacts.run` publishes them
every `every` seconds, writing only the keys whose value changed: never per item, never on the
path of a node's messages or a commit.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, Protocol

from witengine.hub.board.board import Board
from witengine.hub.board.rules import FARM_PREFIX
from witengine.hub.store.base import NodeRecord, RateRecord
from witengine.hub.turns import Turn

log = logging.getLogger(__name__)
Json = Any
PUBLISH_SECONDS = 2.0  # at most one version of each fact this often
KEYS_PER_TURN = 50  # keys a pass writes at most in one turn of the event loop (each a store
# transaction); fewer when they took the turn's time (see witengine.hub.turns)
MAX_RANGES = 200  # ranges of items shown per node and map; the rest are counted


class Batch(Protocol):
    """A batch out on a node, as the dashboard's watch keeps it."""

    @property
    def job_id(self) -> str: ...
    @property
    def map_id(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def node_name(self) -> str: ...
    @property
    def activity(self) -> str: ...
    @property
    def indices(self) -> tuple[int, ...]: ...


class Watch(Protocol):
    """What the publisher reads of the dashboard's watch."""

    @property
    def running(self) -> dict[str, Any]: ...  # batch id -> a Batch out on a node

    def rates(self, node_id: str) -> dict[str, float]: ...


class View(Protocol):
    """What the publisher reads of the dispatcher's read model (`FarmView`)."""

    def known(self, node_id: str) -> bool: ...
    def node_state(self, node_id: str) -> Any: ...
    def node_reason(self, node_id: str) -> str: ...
    def benchmarks(self, node_id: str) -> list[RateRecord]: ...


# ------------------------------------------------------------------ the pure part


def ranges(indices: Iterable[int]) -> list[list[int]]:
    """Sorted items as runs: [0, 1, 2, 5] -> [[0, 2], [5, 5]]."""
    runs: list[list[int]] = []
    for index in sorted(set(indices)):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return runs


def _shown(indices: Iterable[int]) -> dict[str, Json]:
    runs = ranges(indices)
    shown: dict[str, Json] = {"items": runs[:MAX_RANGES]}
    if len(runs) > MAX_RANGES:
        shown["more_ranges"] = len(runs) - MAX_RANGES
    return shown


def _figure(value: float) -> float:
    """A measured figure to three significant digits: a new version for a real change only."""
    if value <= 0 or not math.isfinite(value):
        return 0.0
    return round(value, 2 - math.floor(math.log10(value)))


def node_rates(benchmarks: Sequence[RateRecord], measured: dict[str, float]) -> dict[str, Json]:
    """A node's speed table: activity -> its benchmark (rate, unit) and measured items/s/slot."""
    table: dict[str, dict[str, Json]] = {}
    for rate in benchmarks:
        table.setdefault(rate.activity, {})["benchmark"] = {
            "rate": _figure(rate.rate),
            "unit": rate.unit,
        }
    for activity, per_second in measured.items():
        table.setdefault(activity, {})["measured_items_per_second"] = _figure(per_second)
    return dict(sorted(table.items()))


def node_doing(state: str, reason: str, batches: Sequence[Batch]) -> dict[str, Json]:
    """What a node does now: its state and each batch it runs."""
    running = [
        {"job": b.job_id, "map": b.map_id, "activity": b.activity, **_shown(b.indices)}
        for b in sorted(batches, key=lambda b: (b.job_id, b.map_id, min(b.indices, default=0)))
    ]
    doing: dict[str, Json] = {"state": state, "running": running}
    if reason:
        doing["reason"] = reason
    return doing


def job_plans(
    batches: Sequence[Batch], work: dict[str, dict[str, list[float]]], jobs: Iterable[str]
) -> dict[str, dict[str, Json]]:
    """Each job's plan: per map, the items each node runs now (by node id, with its name);
    and the items each node committed for the job."""
    steps = plan_steps(batches, work, jobs)
    while True:
        try:
            next(steps)
        except StopIteration as made:
            plans: dict[str, dict[str, Json]] = made.value
            return plans


def plan_steps(
    batches: Sequence[Batch], work: dict[str, dict[str, list[float]]], jobs: Iterable[str]
) -> Generator[None, None, dict[str, dict[str, Json]]]:
    """`job_plans` a step at a time (a step per node and map: a plan of a 100,000-item map
    sorts every item in flight), returning the plans."""
    plans: dict[str, dict[str, Json]] = {
        job: {"maps": {}, "done": {n: int(w[0]) for n, w in sorted(work.get(job, {}).items())}}
        for job in jobs
    }
    held: dict[tuple[str, str, str], list[int]] = {}
    names: dict[str, str] = {}
    activities: dict[str, str] = {}
    for batch in batches:
        held.setdefault((batch.job_id, batch.map_id, batch.node_id), []).extend(batch.indices)
        names[batch.node_id] = batch.node_name
        activities[batch.map_id] = batch.activity
    for (job, map_id, node), indices in sorted(held.items()):
        plan = plans.setdefault(job, {"maps": {}, "done": {}})
        entry = plan["maps"].setdefault(map_id, {"activity": activities[map_id], "nodes": {}})
        entry["nodes"][node] = {"name": names[node], **_shown(indices)}
        yield
    return plans


# ------------------------------------------------------------------------ the shell


class FarmFacts:
    """Publishes the farm's facts on the blackboard, a pass every `every` seconds."""

    def __init__(
        self,
        board: Board,
        view: View,
        watch: Watch,
        *,
        nodes: Callable[[], list[NodeRecord]],  # the nodes the hub knows
        running: Callable[[], list[str]],  # the jobs whose scripts run now
        work: Callable[[str], dict[str, list[float]]],  # a job's items (and seconds) by node
        every: float = PUBLISH_SECONDS,
    ) -> None:
        self.board = board
        self.view = view
        self.watch = watch
        self.nodes = nodes
        self.running = running
        self.work = work
        self.every = every
        # The keys of its own this hub has on the board: those it wrote and, from its first
        # pass, those an earlier run of it left (the plan of a job that ended as it stopped).
        self._published: set[str] | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.publish_in_turns()
            except Exception:  # a fact that fails must not stop the others, nor the hub
                log.exception("could not publish the farm's facts on the blackboard")

    def publish(self) -> int:
        """One pass: every fact whose value changed is written, and the facts of nodes and jobs
        gone (a node forgotten, a job ended) are deleted; how many keys were written."""
        return sum(self._writes())

    async def publish_in_turns(self) -> int:
        """`publish`, a turn of the event loop at a time (at most `KEYS_PER_TURN` keys, or what
        took a turn's time: a pass over a farm of hundreds of nodes writes as many keys, and
        makes the plan of every item in flight), the API and the nodes answered between."""
        written = keys = 0
        turn = Turn()
        for wrote in self._writes():
            written += wrote
            keys += 1
            if keys >= KEYS_PER_TURN or turn.over():
                await turn.next()
                keys = 0
        return written

    def _writes(self) -> Iterator[bool]:
        """Each step of a pass in turn: a key written or deleted (True) or left as it was, or
        a step of making a value (False)."""
        if self._published is None:
            self._published = {e.key for e in self.board.keys(FARM_PREFIX, 1_000_000)}
        facts: set[str] = set()
        for fact in self._facts():
            if fact is None:
                yield False
                continue
            key, value = fact
            facts.add(key)
            yield self.board.publish(key, value) is not None
        for key in sorted(self._published - facts):
            yield self.board.withdraw(key)
        self._published = facts

    def _facts(self) -> Iterator[tuple[str, Json] | None]:
        """Every fact as it is now, made as it is written: each node's rates and what it does,
        each job's plan (None: a step of making a plan)."""
        batches: list[Batch] = list(self.watch.running.values())
        by_node: dict[str, list[Batch]] = {}
        for batch in batches:
            by_node.setdefault(batch.node_id, []).append(batch)
        known: list[NodeRecord] = [n for n in self.nodes() if self.view.known(n.id)]
        for node in known:
            mine = by_node.get(node.id, [])
            rates = node_rates(self.view.benchmarks(node.id), self.watch.rates(node.id))
            state = str(self.view.node_state(node.id))
            doing = node_doing(state, self.view.node_reason(node.id), mine)
            yield f"{FARM_PREFIX}rates/{node.id}", {"name": node.name, "activities": rates}
            yield f"{FARM_PREFIX}nodes/{node.id}", {"name": node.name, **doing}
        running = self.running()
        work = {job: self.work(job) for job in running}
        plans = yield from plan_steps(batches, work, running)
        for job, plan in plans.items():
            yield f"{FARM_PREFIX}jobs/{job}/plan", plan
