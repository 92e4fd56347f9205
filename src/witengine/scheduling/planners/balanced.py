"""Balanced: WitEngine's published plan, made once from the rates known when the map starts.

Items sorted by estimated work, largest first, each given to the node where it would finish
earliest; then the node count is trimmed (slowest first) while the predicted makespan stays
within `TRIM_TOLERANCE` of the plan on every node. Nodes without a benchmark count at the slowest
known rate. Each node gets its whole share as one batch. Items a failed, lost or departed node
leaves unfinished are re-planned the same way on the rest, after what each already has.

Windows: no node is planned to finish an item after its window closes (`earliest_finish`'s
`until`); items that fit on no node wait, and are planned again at the next request. A plan
made when a node's window was further off is cut at the grant to what still fits; the rest is
planned again on the others. Balanced never duplicates: the work a suspended node holds waits
for it to resume or hand it back.

Being static, it is as good as the benchmarks: a node 30 % slower than its benchmark finishes
30 % late. Adaptive corrects that online; Balanced is here to compare against, and for farms
whose rates are well known.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

from witengine.scheduling.core import Candidate, Grant, Strategy
from witengine.scheduling.ledger import Ledger, MapContext

TRIM_TOLERANCE = 0.02  # a smaller plan may be this much longer than the plan on every node
EXACT_TRIM_ITEMS = 20_000  # above this, trimming compares predicted bounds, not whole plans
_REKEY = 0.95  # rebuild the greedy heap when items get this much smaller than its key assumed


def earliest_finish(
    order: Sequence[int],
    work: Sequence[float],
    speeds: Mapping[str, float],
    ready: Mapping[str, float] | None = None,
    avoid: Mapping[int, set[str]] | None = None,
    until: Mapping[str, float] | None = None,
    left_over: list[int] | None = None,
) -> tuple[dict[str, list[int]], float]:
    """Give each item (in `order`, largest first) to the node where it finishes earliest, after
    what that node already has (`ready`: when it is free). Returns each node's items and the
    predicted makespan. Items avoid the nodes in `avoid` when any other node is left.

    With `until` (when a node's window closes, on the clock of `ready`), no node is planned to
    finish an item after it: a node that has no room for the next item is given no more until
    the items shrink (when the heap is rebuilt), and items that fit on no node are appended to
    `left_over`.

    A heap keyed by each node's finish time were it given an item of the current size makes a
    choice O(log nodes); it is exact for items of equal work and rebuilt whenever items shrink
    by 5 %, so a choice is never off by more than 5 % of one item."""
    nodes = list(speeds)
    if not nodes:
        return {}, 0.0
    rates = [speeds[n] for n in nodes]
    finish = [(ready or {}).get(n, 0.0) for n in nodes]
    limits = [(until or {}).get(n, math.inf) for n in nodes] if until else None
    plans: list[list[int]] = [[] for _ in nodes]
    heap: list[tuple[float, int]] = []
    reference = 0.0
    rekey_below = math.inf  # rebuild the heap before the first item
    heapreplace = heapq.heapreplace
    for index in order:
        weight = work[index]
        if weight < rekey_below:
            reference = weight
            rekey_below = weight * _REKEY
            heap = [(finish[k] + weight / rates[k], k) for k in range(len(nodes))]
            if limits is not None:  # only the nodes with room for an item of this size
                heap = [(key, k) for key, k in heap if key <= limits[k]]
            heapq.heapify(heap)
        if limits is not None:
            while heap and finish[heap[0][1]] + weight / rates[heap[0][1]] > limits[heap[0][1]]:
                heapq.heappop(heap)
            if not heap:
                if left_over is not None:
                    left_over.append(index)
                continue
        shunned = avoid.get(index) if avoid else None
        if shunned and limits is not None:
            # Rare (an item that failed, on a farm with windows): look at every node.
            k = _fitting(weight, nodes, rates, finish, limits, [j for _, j in heap], shunned)
            finish[k] += weight / rates[k]
            plans[k].append(index)
            heap = [(finish[j] + reference / rates[j], j) for _, j in heap]
            heapq.heapify(heap)
            continue
        if shunned:
            skipped: list[tuple[float, int]] = []
            while len(heap) > 1 and nodes[heap[0][1]] in shunned:
                skipped.append(heapq.heappop(heap))
            k = heap[0][1]
            finish[k] += weight / rates[k]
            plans[k].append(index)
            heapreplace(heap, (finish[k] + reference / rates[k], k))
            for entry in skipped:
                heapq.heappush(heap, entry)
            continue
        k = heap[0][1]
        done = finish[k] = finish[k] + weight / rates[k]
        plans[k].append(index)
        heapreplace(heap, (done + reference / rates[k], k))
    return dict(zip(nodes, plans, strict=True)), max(
        (finish[k] for k in range(len(nodes)) if plans[k] or not limits), default=0.0
    )


def _fitting(
    weight: float,
    nodes: list[str],
    rates: list[float],
    finish: list[float],
    limits: list[float],
    candidates: list[int],
    shunned: set[str],
) -> int:
    """Of `candidates` (the first fits), the node where an item finishes earliest within its
    window: one not in `shunned` if any fits."""
    fits = [k for k in candidates if finish[k] + weight / rates[k] <= limits[k]]
    preferred = [k for k in fits if nodes[k] not in shunned] or fits
    return min(preferred, key=lambda k: (finish[k] + weight / rates[k], k))


def trimmed(
    order: Sequence[int], work: Sequence[float], speeds: Mapping[str, float]
) -> dict[str, float]:
    """The fewest fastest nodes whose plan stays within the tolerance of the plan on all."""
    fastest = sorted(speeds, key=lambda n: (-speeds[n], n))
    if len(fastest) <= 1 or not order:
        return dict(speeds)

    total_work = math.fsum(map(work.__getitem__, order))
    largest = max(map(work.__getitem__, order))

    def makespan(count: int) -> float:
        if len(order) <= EXACT_TRIM_ITEMS:
            return earliest_finish(order, work, {n: speeds[n] for n in fastest[:count]})[1]
        capacity = sum(speeds[n] for n in fastest[:count])
        return max(total_work / capacity, largest / speeds[fastest[0]])

    limit = makespan(len(fastest)) * (1.0 + TRIM_TOLERANCE)
    low, high = 1, len(fastest)  # the answer is in [low, high]; `high` always fits
    while low < high:
        middle = (low + high) // 2
        if makespan(middle) <= limit:
            high = middle
        else:
            low = middle + 1
    return {n: speeds[n] for n in fastest[:high]}


class BalancedSchedule(Ledger):
    strategy = Strategy.BALANCED

    def __init__(
        self,
        context: MapContext,
        work: Sequence[float],
        candidates: Sequence[Candidate],
        now: float,
        max_nodes: int | None = None,
    ) -> None:
        super().__init__(context, work, candidates, now, max_nodes)
        self._plans: dict[str, deque[int]] = {}
        self._planned_work = 0.0
        self._unplanned: list[int] = []
        order = sorted(range(self.count), key=self._work.__getitem__, reverse=True)
        if self._slots and self._owners.windows(self._slots):
            self._replan(order, now)  # planned from now, within the windows (untrimmed)
        elif self._slots:
            speeds = {n: self._speed_of(n) for n in self._slots}
            plans, _ = earliest_finish(order, self._work, trimmed(order, self._work, speeds))
            self._adopt(plans)
        else:
            self._unplanned = order

    def _take(self, node: Candidate, now: float, room: float) -> Grant | None:
        if self._unplanned:
            waiting, self._unplanned = self._unplanned, []
            self._replan(waiting, now)
        plan = self._plans.get(node.id)
        if not plan or not self._idle(node.id):
            return None  # one batch per node: the rest of its plan waits for it
        del self._plans[node.id]
        indices = list(plan)
        work = math.fsum(map(self._work.__getitem__, indices))
        self._planned_work -= work
        if not self._plans:
            self._planned_work = 0.0
        rest: list[int] = []
        if work > room:  # its window closes sooner than the plan had it: cut there
            fitting = list(itertools.takewhile(lambda w: w <= room, self._cumulative(indices)))
            indices, rest = indices[: len(fitting)], indices[len(fitting) :]
            work = fitting[-1] if fitting else 0.0
        grant = self._grant(node.id, indices, work, now) if indices else None
        if rest:
            self._replan(rest, now)
        return grant

    def _cumulative(self, indices: list[int]) -> Iterator[float]:
        return itertools.accumulate(map(self._work.__getitem__, indices))

    def _return(self, indices: list[int], now: float) -> None:
        self._replan(indices, now)

    def _candidates_left(self, node_ids: list[str], now: float) -> None:
        orphans: list[int] = []
        for node_id in node_ids:
            plan = self._plans.pop(node_id, None)
            if plan:
                orphans.extend(plan)
                self._planned_work -= math.fsum(map(self._work.__getitem__, plan))
        if orphans:
            self._replan(orphans, now)

    def _candidates_joined(self, node_ids: list[str], now: float) -> None:
        if self._unplanned:
            waiting, self._unplanned = self._unplanned, []
            self._replan(waiting, now)

    def _replan(self, indices: list[int], now: float) -> None:
        """Plan items on the active nodes, after what each has out and planned already."""
        if not self._slots:
            self._unplanned.extend(indices)
            return
        speeds = {n: self._speed_of(n) for n in self._slots}
        ready: dict[str, float] = {}
        for node_id, speed in speeds.items():
            out = self._by_node.get(node_id, {}).values()
            free = max((self._predicted_end(b, now) for b in out), default=now)
            planned = self._plans.get(node_id, ())
            ready[node_id] = free + math.fsum(map(self._work.__getitem__, planned)) / speed
        order = sorted(indices, key=self._work.__getitem__, reverse=True)
        overhead = self._settings.dispatch_overhead
        until = {n: end - overhead for n, end in self._owners.windows(speeds).items()}
        left_over: list[int] = []
        plans, _ = earliest_finish(
            order, self._work, speeds, ready, self._failed_on, until or None, left_over
        )
        self._adopt(plans)
        self._unplanned.extend(left_over)

    def _adopt(self, plans: dict[str, list[int]]) -> None:
        for node_id, indices in plans.items():
            if indices:
                self._plans.setdefault(node_id, deque()).extend(indices)
                self._planned_work += math.fsum(map(self._work.__getitem__, indices))

    def _pending_items(self) -> list[int]:
        return [i for plan in self._plans.values() for i in plan] + self._unplanned

    def _pending_work(self) -> float:
        unplanned = math.fsum(map(self._work.__getitem__, self._unplanned))
        return max(0.0, self._planned_work) + unplanned
