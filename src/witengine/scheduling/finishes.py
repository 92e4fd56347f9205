"""The batch predicted to finish last, found without looking at every batch.

Near the end of a map, Adaptive gives an idle node a copy of the tail of the batch predicted to
finish last, a stalled one (silent much longer than an item takes) before any other. With a
batch out on every node, looking at each made such a request cost O(nodes): 4 ms at 10,000.

An entry's prediction is three numbers that change only when its batch does (a result, a copy,
its node's rate): `end`, when it should finish; `needed`, the seconds its work still needs; and
`stall_at`, after which it counts as stalled if nothing changes. At time `now` it ranks by

    stalled = now > stall_at
    predicted end = end if end >= now else now + needed    (late: it needs all of it from now)

and the latest is the greatest (stalled, predicted end), the smallest key among equals. Time
alone changes a rank only by passing `stall_at` or `end`, each once: two min-heaps keyed by those
move entries, as `now` passes them, between four max-heaps (stalled or not; on time, ranked by
`end`, or late, ranked by `needed`). A change costs O(1) and is filed in the heaps at the next
query, O(log entries) each, amortized; many changes at once (the first query of a map's end,
when every batch changed since the last) rebuild the heaps in one go, O(entries) at C speed.
Entries replaced or removed are dropped when they surface, and the heaps are rebuilt when those
outnumber the live ones. A query with an earlier `now` than the one before (the caller's clock
went back) is answered by a scan.

Pure: time is the `now` each call passes.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_SLACK = 64  # stale heap entries tolerated beyond a few per live entry before a rebuild

_Heap = list[tuple[float, int, int]]  # (what it is ordered by, key, version)


def predicted_end(end: float, needed: float, now: float) -> float:
    """When work predicted to end at `end` ends, seen at `now`: if that is past, the `needed`
    seconds are assumed to run from now (its node may be stalled)."""
    return end if end >= now else now + needed


@dataclass(frozen=True)
class Latest(Generic[T]):
    """The entry predicted to finish last at a given `now`."""

    item: T
    stalled: bool
    end: float  # its predicted end at that `now`


@dataclass(slots=True, eq=False)
class _Entry(Generic[T]):
    item: T
    owner: str
    end: float
    needed: float
    stall_at: float
    version: int
    stalled: bool  # as of the index's `now`
    late: bool  # as of the index's `now`


class FinishIndex(Generic[T]):
    """Entries by integer key (unique to each), each with an owner and its prediction."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry[T]] = {}
        self._unfiled: set[int] = set()  # keys put since the heaps were last told
        self._version = 0
        self._now = -math.inf  # every entry's `stalled` and `late` are as of this time
        self._stalling: _Heap = []  # by stall_at: entries not stalled yet
        self._lating: _Heap = []  # by end: entries not late yet
        self._ends: tuple[_Heap, _Heap] = ([], [])  # by -end: on-time entries [stalled]
        self._needs: tuple[_Heap, _Heap] = ([], [])  # by -needed: late entries [stalled]

    def __len__(self) -> int:
        return len(self._entries)

    def put(
        self, key: int, item: T, owner: str, *, end: float, needed: float, stall_at: float
    ) -> None:
        """Add the entry of `key`, or replace it."""
        self._version += 1
        now = self._now
        entry = _Entry(item, owner, end, needed, stall_at, self._version, now > stall_at, end < now)
        self._entries[key] = entry
        self._unfiled.add(key)

    def remove(self, key: int) -> None:
        self._entries.pop(key, None)

    def last_end(self, now: float) -> float | None:
        """The latest predicted end at `now`, stalled or not (None without entries)."""
        if not self._entries:
            return None
        self._file_changes()
        if now < self._now:
            return max(predicted_end(e.end, e.needed, now) for e in self._entries.values())
        self._advance(now)
        ends = [best.end for s in (True, False) if (best := self._best(s, now, "")) is not None]
        return max(ends)

    def latest(self, now: float, skip: str = "") -> Latest[T] | None:
        """The entry predicted to finish last at `now`, leaving out those `skip` owns."""
        self._file_changes()
        if now < self._now:
            return self._scan(now, skip)
        self._advance(now)
        for stalled in (True, False):
            best = self._best(stalled, now, skip)
            if best is not None:
                return best
        return None

    # ----------------------------------------------------------------- internals

    def _file_changes(self) -> None:
        entries, unfiled = self._entries, self._unfiled
        heaps = (self._stalling, self._lating, *self._ends, *self._needs)
        filed = sum(map(len, heaps))
        if 3 * len(unfiled) + filed > 4 * len(entries) + _SLACK or 2 * len(unfiled) > filed:
            self._rebuild()  # many changes at once, or many stale entries: start afresh
        else:
            for key in unfiled:
                entry = entries.get(key)
                if entry is not None:
                    self._file(key, entry)
        unfiled.clear()

    def _rebuild(self) -> None:
        items = self._entries.items()
        self._stalling = [(e.stall_at, k, e.version) for k, e in items if not e.stalled]
        self._lating = [(e.end, k, e.version) for k, e in items if not e.late]
        self._ends = (
            [(-e.end, k, e.version) for k, e in items if not e.late and not e.stalled],
            [(-e.end, k, e.version) for k, e in items if not e.late and e.stalled],
        )
        self._needs = (
            [(-e.needed, k, e.version) for k, e in items if e.late and not e.stalled],
            [(-e.needed, k, e.version) for k, e in items if e.late and e.stalled],
        )
        for heap in (self._stalling, self._lating, *self._ends, *self._needs):
            heapq.heapify(heap)

    def _file(self, key: int, entry: _Entry[T]) -> None:
        version = entry.version
        if not entry.stalled:
            heapq.heappush(self._stalling, (entry.stall_at, key, version))
        if not entry.late:
            heapq.heappush(self._lating, (entry.end, key, version))
        self._rank(key, entry)

    def _rank(self, key: int, entry: _Entry[T]) -> None:
        if entry.late:
            heapq.heappush(self._needs[entry.stalled], (-entry.needed, key, entry.version))
        else:
            heapq.heappush(self._ends[entry.stalled], (-entry.end, key, entry.version))

    def _advance(self, now: float) -> None:
        """Entries that `now` made stalled or late move to the heaps that rank them so."""
        entries = self._entries
        stalling, lating = self._stalling, self._lating
        while stalling and stalling[0][0] < now:
            _, key, version = heapq.heappop(stalling)
            entry = entries.get(key)
            if entry is not None and entry.version == version:
                entry.stalled = True
                self._rank(key, entry)
        while lating and lating[0][0] < now:
            _, key, version = heapq.heappop(lating)
            entry = entries.get(key)
            if entry is not None and entry.version == version:
                entry.late = True
                self._rank(key, entry)
        self._now = now

    def _current(self, key: int, version: int, stalled: bool, late: bool) -> _Entry[T] | None:
        """The entry a heap's (key, version) names, if it still ranks in that heap."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        if entry.stalled != stalled or entry.late != late:
            return None
        return entry

    def _best(self, stalled: bool, now: float, skip: str) -> Latest[T] | None:
        on_time = self._latest_on_time(stalled, skip)
        late = self._latest_late(stalled, now, skip)
        if on_time is None or (late is not None and late[:2] > on_time[:2]):
            on_time = late
        if on_time is None:
            return None
        return Latest(on_time[2].item, stalled, on_time[0])

    def _latest_on_time(self, stalled: bool, skip: str) -> tuple[float, int, _Entry[T]] | None:
        heap = self._ends[stalled]
        held: _Heap = []
        found: tuple[float, int, _Entry[T]] | None = None
        while heap:
            _, key, version = heap[0]
            entry = self._current(key, version, stalled, False)
            if entry is None:
                heapq.heappop(heap)
            elif entry.owner == skip:
                held.append(heapq.heappop(heap))
            else:  # the greatest end, the smallest key among equals
                found = (entry.end, -key, entry)
                break
        for kept in held:
            heapq.heappush(heap, kept)
        return found

    def _latest_late(
        self, stalled: bool, now: float, skip: str
    ) -> tuple[float, int, _Entry[T]] | None:
        """Ranked by `now + needed`: entries of different `needed` may round to one end, so
        the smallest key among all those that tie is found."""
        heap = self._needs[stalled]
        held: _Heap = []
        best: tuple[float, int, _Entry[T]] | None = None
        while heap:
            _, key, version = heap[0]
            entry = self._current(key, version, stalled, True)
            if entry is None:
                heapq.heappop(heap)
                continue
            if entry.owner != skip:
                end = now + entry.needed
                if best is None or (end == best[0] and key < -best[1]):
                    best = (end, -key, entry)
                elif end != best[0]:
                    break
            held.append(heapq.heappop(heap))
        for kept in held:
            heapq.heappush(heap, kept)
        return best

    def _scan(self, now: float, skip: str) -> Latest[T] | None:
        best: tuple[bool, float, int] | None = None
        found: _Entry[T] | None = None
        for key, entry in self._entries.items():
            if entry.owner == skip:
                continue
            rank = (now > entry.stall_at, predicted_end(entry.end, entry.needed, now), -key)
            if best is None or rank > best:
                best, found = rank, entry
        if best is None or found is None:
            return None
        return Latest(found.item, best[0], best[1])
