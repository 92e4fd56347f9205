"""The items of a map waiting for a node, and the work they add up to.

Taking a batch never looks at the items left behind. The map's items wait in the order they
should go out, with the running sum of their work beside them, so a batch of a given amount of
work is found by bisection and cut out as one slice: O(log items) plus a C-speed copy, however
big the batch. Items put back (their batch ended unfinished) wait in front of those, and items
that failed somewhere before everything, each preferably for a node that has not failed it;
both are few and taken one by one. A batch capped by a node's window takes the smallest items,
from the end of the order, when the next does not fit.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence


class WorkQueue:
    """Pending items of one map: failed ones, put-back ones, then the rest in order."""

    def __init__(
        self, order: Iterable[int], work: Sequence[float], total: float | None = None
    ) -> None:
        """`total`: the work of the items in `order`, when the caller knows it already."""
        self._work = work
        self._order = list(order)
        self._cumulative = list(itertools.accumulate(map(work.__getitem__, self._order)))
        self._head = 0  # items before it are gone
        self.returned: deque[int] = deque()
        self.retries: deque[int] = deque()
        self.work = total if total is not None else math.fsum(map(work.__getitem__, self._order))

    def __len__(self) -> int:
        return len(self.retries) + len(self.returned) + len(self._order) - self._head

    def __iter__(self) -> Iterator[int]:
        yield from self.retries
        yield from self.returned
        yield from itertools.islice(self._order, self._head, None)

    def take(
        self,
        target: float,
        node_id: str,
        failed_on: Mapping[int, set[str]],
        limit: int = 0,
        cap: float = math.inf,
    ) -> tuple[list[int], float]:
        """Items adding up to about `target` work (at least one when any is waiting and the
        next fits `cap`), at most `limit` of them when `limit` is set, never more than `cap`
        work in all (a node's window closes: what does not fit waits), and their work.
        Retries the node has not failed go first."""
        target = min(target, cap)
        taken, total = self._take_retries(target, node_id, failed_on, limit, cap)
        work = self._work
        returned = self.returned
        while returned and not (limit and len(taken) >= limit):
            weight = work[returned[0]]
            if (taken and total + weight > target) or total + weight > cap:
                break
            taken.append(returned.popleft())
            total += weight
        if not returned and not (limit and len(taken) >= limit) and (not taken or total < target):
            total += self._slice(taken, target - total, limit, cap - total)
        if not taken and self.retries and work[self.retries[0]] <= cap:
            taken.append(self.retries.popleft())  # only items this node failed are left: again
            total = work[taken[0]]
        if not taken and cap < math.inf:  # the next is too large to fit: the smallest may
            total = self._last(taken, target, limit, cap)
        self.work = self.work - total if len(self) else 0.0
        return taken, total

    def _take_retries(
        self,
        target: float,
        node_id: str,
        failed_on: Mapping[int, set[str]],
        limit: int,
        cap: float,
    ) -> tuple[list[int], float]:
        taken: list[int] = []
        total = 0.0
        if not self.retries:
            return taken, total
        keep: deque[int] = deque()
        while self.retries:
            index = self.retries.popleft()
            if (
                node_id in failed_on.get(index, ())
                or (taken and total >= target)
                or total + self._work[index] > cap
            ):
                keep.append(index)
                continue
            taken.append(index)
            total += self._work[index]
            if limit and len(taken) >= limit:
                break
        keep.extend(self.retries)
        self.retries = keep
        return taken, total

    def _slice(self, taken: list[int], target: float, limit: int, cap: float) -> float:
        """Cut the next items in order worth about `target` (at least one if `taken` is empty
        and it fits `cap`) into `taken`; their work."""
        head, order, cumulative = self._head, self._order, self._cumulative
        if head >= len(order):
            return 0.0
        base = cumulative[head - 1] if head else 0.0
        end = bisect.bisect_right(cumulative, base + target, lo=head)
        if end == head and not taken and cumulative[head] - base <= cap:
            end = head + 1
        if limit:
            end = min(end, head + limit - len(taken))
        if end <= head:
            return 0.0
        taken.extend(order[head:end])
        self._head = end
        return cumulative[end - 1] - base

    def _last(self, taken: list[int], target: float, limit: int, cap: float) -> float:
        """Cut items from the end of the order (the smallest, when it runs largest first)
        into `taken`, while they fit `cap` and stay about `target`; their work."""
        order, cumulative, work = self._order, self._cumulative, self._work
        total = 0.0
        while len(order) > self._head and not (limit and len(taken) >= limit):
            weight = work[order[-1]]
            if total + weight > cap or (taken and total + weight > target):
                break
            taken.append(order.pop())
            cumulative.pop()
            total += weight
        return total

    def put_back(self, indices: Sequence[int]) -> None:
        """Items whose batch ended unfinished: they go out next, in the order given."""
        self.returned.extendleft(reversed(indices))
        self.work += math.fsum(map(self._work.__getitem__, indices))

    def retry(self, index: int) -> None:
        """An item that failed on a node: it goes out before the rest, to another node."""
        self.retries.append(index)
        self.work += self._work[index]
