"""The items of a map waiting for a node, and the work they add up to.

Taking a batch costs O(items taken), never O(items waiting): items sit in a deque in the order
they should go out, and the sum of their work is kept as they come and go. Items that failed
somewhere wait apart and go first, each preferably to a node that has not failed it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence


class WorkQueue:
    """Pending items of one map: fresh or put back in `items`, failed ones in `retries`."""

    def __init__(
        self, order: Iterable[int], work: Sequence[float], total: float | None = None
    ) -> None:
        """`total`: the work of the items in `order`, when the caller knows it already."""
        self._work = work
        self.items: deque[int] = deque(order)
        self.retries: deque[int] = deque()
        self.work = total if total is not None else math.fsum(work[i] for i in self.items)

    def __len__(self) -> int:
        return len(self.items) + len(self.retries)

    def __iter__(self) -> Iterator[int]:
        yield from self.retries
        yield from self.items

    def take(
        self, target: float, node_id: str, failed_on: Mapping[int, set[str]], limit: int = 0
    ) -> tuple[list[int], float]:
        """Items adding up to about `target` work (at least one when any is waiting), at most
        `limit` of them when `limit` is set, and their work. Retries the node has not failed go
        first."""
        work = self._work
        taken: list[int] = []
        total = 0.0
        if self.retries:
            keep: deque[int] = deque()
            while self.retries:
                index = self.retries.popleft()
                if node_id in failed_on.get(index, ()) or (taken and total >= target):
                    keep.append(index)
                    continue
                taken.append(index)
                total += work[index]
                if limit and len(taken) >= limit:
                    break
            keep.extend(self.retries)
            self.retries = keep
        items = self.items
        while items and not (limit and len(taken) >= limit):
            weight = work[items[0]]
            if taken and total + weight > target:
                break
            taken.append(items.popleft())
            total += weight
        if not taken and self.retries:  # only items this node failed are left: try it again
            taken.append(self.retries.popleft())
            total = work[taken[0]]
        self.work = self.work - total if (self.items or self.retries) else 0.0
        return taken, total

    def put_back(self, indices: Sequence[int]) -> None:
        """Items whose batch ended unfinished: they go out next, in the order given."""
        self.items.extendleft(reversed(indices))
        self.work += sum(self._work[i] for i in indices)

    def retry(self, index: int) -> None:
        """An item that failed on a node: it goes out before the rest, to another node."""
        self.retries.append(index)
        self.work += self._work[index]
