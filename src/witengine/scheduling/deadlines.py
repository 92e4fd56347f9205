"""Lease deadlines: which of many leases ran out by `now`, without looking at every lease.

A lease's deadline only moves later (each heartbeat extends it), so a min-heap keyed by the
deadline a lease had when it went in is never late: a lease found there whose deadline has moved
goes back in at its new one. Finding the leases due costs O(log leases) for each lease looked
at, extending one O(1). A removed lease's entry is dropped when it surfaces, and the heap is
rebuilt when such entries outnumber the live ones, so it stays O(live leases) in size.

Pure: time is the `now` each call passes.
"""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

T = TypeVar("T")

_SLACK = 64  # entries of removed leases tolerated beyond the live ones before a rebuild


class Deadlines(Generic[T]):
    """Items under a deadline that only moves later, by an integer key unique to each."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[float, T]] = {}  # key -> (deadline, item)
        self._heap: list[tuple[float, int]] = []  # (a deadline the key had, key): never later

    def __len__(self) -> int:
        return len(self._live)

    def add(self, key: int, item: T, deadline: float) -> None:
        self._live[key] = (deadline, item)
        heapq.heappush(self._heap, (deadline, key))

    def extend(self, key: int, deadline: float) -> None:
        """Move the key's deadline to `deadline` if that is later (O(1): the heap is told when
        its old deadline surfaces)."""
        entry = self._live.get(key)
        if entry is not None and deadline > entry[0]:
            self._live[key] = (deadline, entry[1])

    def remove(self, key: int) -> None:
        if self._live.pop(key, None) is not None and len(self._heap) > 2 * len(self._live) + _SLACK:
            self._heap = [(deadline, k) for k, (deadline, _) in self._live.items()]
            heapq.heapify(self._heap)

    def due(self, now: float) -> list[T]:
        """The items whose deadline is `now` or earlier, by key; they are removed."""
        heap, live = self._heap, self._live
        due: list[tuple[int, T]] = []
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = live.get(key)
            if entry is None:
                continue  # removed, or already found due through another entry
            if entry[0] <= now:
                del live[key]
                due.append((key, entry[1]))
            else:
                heapq.heappush(heap, (entry[0], key))
        due.sort(key=lambda pair: pair[0])
        return [item for _, item in due]
