"""Queued: nodes pull one item at a time; a failed item goes first to another node.

The simplest fair share: a fast node simply comes back more often. Each item costs a round trip,
so it suits maps of few, long items; for many short ones, Adaptive batches them. A node gets
nothing when the next item does not fit before its window closes; it never duplicates, so the
item a suspended node holds waits for it to resume or hand it back.
"""

from __future__ import annotations

from collections.abc import Sequence

from witengine.scheduling.core import Candidate, Grant, Strategy
from witengine.scheduling.ledger import Ledger, MapContext
from witengine.scheduling.queue import WorkQueue


class QueuedSchedule(Ledger):
    strategy = Strategy.QUEUED

    def __init__(
        self,
        context: MapContext,
        work: Sequence[float],
        candidates: Sequence[Candidate],
        now: float,
        max_nodes: int | None = None,
    ) -> None:
        super().__init__(context, work, candidates, now, max_nodes)
        self._queue = WorkQueue(range(self.count), self._work, self._total_work)

    def _take(self, node: Candidate, now: float, room: float) -> Grant | None:
        if not self._queue or room <= 0.0:
            return None
        taken, work = self._queue.take(0.0, node.id, self._failed_on, limit=1, cap=room)
        if not taken:
            return None  # the next item does not fit before its window closes
        return self._grant(node.id, taken, work, now)

    def _return(self, indices: list[int], now: float) -> None:
        self._queue.put_back(indices)

    def _retry(self, index: int, now: float) -> None:
        self._queue.retry(index)

    def _pending_items(self) -> list[int]:
        return list(self._queue)

    def _pending_work(self) -> float:
        return self._queue.work
