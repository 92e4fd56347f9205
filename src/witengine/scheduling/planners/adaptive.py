"""Adaptive, the default: benchmark-seeded weighted factoring, rates corrected online, and
duplicates of the work predicted to finish last.

A node that asks for work gets about `(pending work / 2) × its rate / sum of active rates`: half
of what is left, shared in proportion to speed, so every batch is predicted to take the same
time on any node and batches shrink as the map drains (big batches early keep overhead low,
small ones late keep nodes finishing together). A batch runs at least `min_batch_overheads`
dispatch overheads and fits the longest lease. Items go out largest first, so the small ones fill
the end. Each result's seconds corrects the node's rate, so a wrong benchmark costs only the
first batch's share.

Near the end, when nothing is pending, an idle node may duplicate the tail of the batch predicted
to finish last, when it would finish those items sooner; the split is where both are predicted
to end together. The first result of an item wins; the losing batch is cancelled once nothing in
it is still needed. At most `duplicate_limit` of the map's items are sent twice.

A node whose window closes soon gets no more than fits before it closes (`room`): its share is
cut there, and it gets nothing when the next item does not fit. The batches of a node that left
the candidates (its owner came back, its window closed) count as stalled, so they are the first
duplicated near the end; a copy, too, fits the copying node's window.
"""

from __future__ import annotations

from collections.abc import Sequence

from witengine.scheduling.core import Candidate, Grant, Strategy
from witengine.scheduling.ledger import Batch, Ledger, MapContext
from witengine.scheduling.queue import WorkQueue

MAX_COPIES = 3  # an item is out at most this many times at once


class AdaptiveSchedule(Ledger):
    strategy = Strategy.ADAPTIVE

    def __init__(
        self,
        context: MapContext,
        work: Sequence[float],
        candidates: Sequence[Candidate],
        now: float,
        max_nodes: int | None = None,
    ) -> None:
        super().__init__(context, work, candidates, now, max_nodes)
        weights = self._work
        uniform = not weights or min(weights) == max(weights)
        order = (
            range(self.count)
            if uniform
            else sorted(range(self.count), key=weights.__getitem__, reverse=True)
        )
        self._queue = WorkQueue(order, weights, self._total_work)

    def _take(self, node: Candidate, now: float, room: float) -> Grant | None:
        if room <= 0.0:
            return None  # its window closes before any work could be done
        if self._queue:
            return self._share_out(node, now, room)
        if self._duplicates_granted < self._duplicate_budget and self._idle(node.id):
            return self._speculate(node, now, room)
        return None

    def _share_out(self, node: Candidate, now: float, room: float) -> Grant | None:
        settings = self._settings
        speed = self._speed_of(node.id)
        capacity = max(self._capacity, speed * node.slots)
        target = self._queue.work / 2.0 * speed / capacity
        smallest = settings.min_batch_seconds * speed
        largest = settings.max_lease / settings.lease_factor * speed
        target = min(max(target, smallest), largest)
        taken, work = self._queue.take(target, node.id, self._failed_on, cap=room)
        if not taken:
            return None  # the next item does not fit before its window closes
        return self._grant(node.id, taken, work, now)

    def _speculate(self, node: Candidate, now: float, room: float) -> Grant | None:
        """A copy of the tail of the batch predicted to finish last, if it ends sooner here."""
        node_id = node.id
        speed = self._speed_of(node_id)
        start = now + self._settings.dispatch_overhead
        found = self._latest(now, skip=node_id)
        if found is None or not (found.stalled or found.end > start):
            return None
        latest, latest_end = found.item, found.end
        if found.stalled:
            # Its node may be dead: share its work out like pending work, in pieces, so the
            # idle nodes asking next take the rest.
            share = max(
                latest.spare_work / 2.0 * speed / max(self._capacity, speed),
                self._settings.min_batch_seconds * speed,
            )
        else:
            # The holder runs its items in order; the copy takes the tail, split where both
            # are predicted to finish together.
            holder_speed = self._speed_of(latest.node_id)
            share = (latest_end - start) / (1.0 / holder_speed + 1.0 / speed)
        taken = self._tail(latest, share, start, latest_end, speed, found.stalled, room, node_id)
        if not taken:
            return None
        total = sum(self._work[i] for i in taken)
        grant = self._grant(node_id, taken, total, now, duplicate=True)
        copy = self._batches[grant.batch_id]
        for index in taken:
            self._share(index, latest, copy)
        return grant

    def _tail(
        self,
        batch: Batch,
        share: float,
        start: float,
        end: float,
        speed: float,
        stalled: bool,
        room: float,
        node_id: str,
    ) -> list[int]:
        """The last open items `batch` counts, about `share` work (never above `room`), within
        the budget, leaving out replicas the copying node may not run (its owner answered)."""
        budget = self._duplicate_budget - self._duplicates_granted
        work = self._work
        shared = self._shared
        taken: list[int] = []
        total = 0.0
        for index in reversed(batch.indices):
            if index not in batch.open:
                continue
            holders = shared.get(index)
            if holders is not None and (holders[-1] is not batch or len(holders) >= MAX_COPIES):
                continue
            if not self.may_run(index, node_id):
                continue
            weight = work[index]
            if (taken and total + weight > share) or total + weight > room:
                break
            if not taken and not stalled and start + weight / speed >= end:
                break  # even its last item would not finish sooner here
            taken.append(index)
            total += weight
            if len(taken) >= budget:
                break
        taken.reverse()
        return taken

    def _return(self, indices: list[int], now: float) -> None:
        self._queue.put_back(indices)

    def _retry(self, index: int, now: float) -> None:
        self._queue.retry(index)

    def _pending_items(self) -> list[int]:
        return list(self._queue)

    def _pending_work(self) -> float:
        return self._queue.work
