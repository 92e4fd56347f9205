"""What the dashboard remembers of the farm's work: batches, item states, throughput and outputs.

The store keeps results, not history. Every assignment, cancel, result and finished batch passes
the node route, which shows it to `FarmWatch.observe`; from those messages the watch keeps
bounded in-memory rings: the batches of each job and each node (for the timeline and the node
pages), every item's state in the maps it has seen (the item grid), items per second by node and
for the farm, each node's measured speed per activity, and the files jobs produced lately; and,
from the dispatcher's commits (`delivered`), the work the farm delivered by hour of the week. It
is lost when the hub stops and decides nothing; times are wall-clock seconds from `wall`.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from witengine.hub.dashboard.week import DeliveredWeek
from witengine.hub.dispatch.view import MapInfo
from witengine.protocol import (
    Assign,
    BatchFinished,
    CancelBatch,
    HubMessage,
    NodeMessage,
    Results,
)

# An item's state, one byte per item of a map.
PENDING, RUNNING, DONE, FAILED = 0, 1, 2, 3
STATE_NAMES = ("pending", "running", "done", "failed")

BUCKET_SECONDS = 5.0  # throughput is counted per bucket of this many seconds
BUCKETS_KEPT = 120  # ten minutes of history per node and for the farm
_SHA256 = re.compile(r"[0-9a-f]{64}")


class WatchedFarm(Protocol):
    """What the watch reads of the farm (a part of `FarmView`): node names, maps in flight."""

    def node_name(self, node_id: str) -> str: ...

    def map_info(self, map_id: str) -> MapInfo | None:
        """A map in flight, or None."""
        ...

    def lease_alive(self, batch_id: str) -> bool: ...

    def node_connected(self, node_id: str) -> bool: ...


@dataclass
class BatchTrack:
    """One batch as the dashboard saw it: who ran which items of which map, when, and how."""

    id: str
    job_id: str
    map_id: str
    node_id: str
    node_name: str
    activity: str
    indices: tuple[int, ...]
    started: float
    retry: bool  # some item had been sent before: a retry or a takeover (or a copy of one)
    ended: float | None = None
    outcome: str = "running"  # running, finished, failed, cancelled, expired, lost
    done: int = 0
    failed: int = 0
    reason: str = ""
    attempts: tuple[int, ...] = ()  # each item's attempt, as `indices`
    # A duplicate: the nodes whose batches held the same attempts of its items when it was sent
    # (a retry or a takeover is a new attempt; only a duplicate keeps it, so either copy counts).
    duplicate_of: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.indices)


@dataclass
class MapTrack:
    """The items of one map: a state byte per item, and the last error of failed ones."""

    id: str
    job_id: str
    activity: str
    states: bytearray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.states)

    def counts(self) -> dict[str, int]:
        return {name: self.states.count(code) for code, name in enumerate(STATE_NAMES)}

    def set(self, index: int, state: int) -> None:
        if index >= len(self.states):  # a map first seen through a late result: grow it
            self.states.extend(bytes(index + 1 - len(self.states)))
        self.states[index] = state

    def set_all(self, indices: Sequence[int], state: int) -> None:
        """The same state for many items (a batch's), at the cost of one `set`."""
        if indices:
            self.set(max(indices), state)
            states = self.states
            for index in indices:
                states[index] = state


@dataclass(frozen=True)
class Output:
    """A file an item produced."""

    map_id: str
    index: int
    sha256: str
    size: int
    name: str
    at: float


class Buckets:
    """Counts per fixed-width time bucket, the last `kept` buckets."""

    def __init__(self, width: float = BUCKET_SECONDS, kept: int = BUCKETS_KEPT) -> None:
        self.width = width
        self.kept = kept
        self.counts: deque[tuple[int, int]] = deque()  # (bucket number, count)

    def add(self, at: float, count: int) -> None:
        bucket = int(at // self.width)
        if self.counts and self.counts[-1][0] == bucket:
            self.counts[-1] = (bucket, self.counts[-1][1] + count)
        elif not self.counts or self.counts[-1][0] < bucket:
            self.counts.append((bucket, count))
        while self.counts and self.counts[0][0] <= bucket - self.kept:
            self.counts.popleft()

    def series(self, now: float, buckets: int) -> list[tuple[float, int]]:
        """(bucket start, count) for the last `buckets` buckets up to now, zeros included."""
        last = int(now // self.width)
        known = dict(self.counts)
        return [(b * self.width, known.get(b, 0)) for b in range(last - buckets + 1, last + 1)]

    def per_second(self, now: float, seconds: float = 10.0) -> float:
        """Items per second over the last `seconds` (whole buckets, the current one included)."""
        buckets = max(1, round(seconds / self.width))
        last = int(now // self.width)
        total = sum(c for b, c in self.counts if b > last - buckets)
        # The current bucket is only partly over: count the time it has really lasted.
        elapsed = (buckets - 1) * self.width + (now - last * self.width)
        return total / max(elapsed, 1e-9)


@dataclass
class JobTrack:
    batches: deque[BatchTrack]
    maps: OrderedDict[str, MapTrack] = field(default_factory=OrderedDict)
    outputs: deque[Output] = field(default_factory=lambda: deque(maxlen=60))


@dataclass
class NodeTrack:
    name: str
    batches: deque[BatchTrack] = field(default_factory=lambda: deque(maxlen=100))
    throughput: Buckets = field(default_factory=Buckets)
    last_heard: float | None = None
    # activity -> [items done, seconds they took]: the node's measured speed per slot
    speed: dict[str, list[float]] = field(default_factory=dict)


class FarmWatch:
    """Bounded memory of the farm's recent work, fed by the node route's messages."""

    def __init__(
        self,
        farm: WatchedFarm,
        wall: Callable[[], float],
        *,
        jobs_kept: int = 200,
        batches_per_job: int = 2_000,
    ) -> None:
        self.farm = farm
        self.wall = wall
        self.jobs_kept = jobs_kept
        self.batches_per_job = batches_per_job
        self.jobs: OrderedDict[str, JobTrack] = OrderedDict()
        self.nodes: dict[str, NodeTrack] = {}
        self.running: dict[str, BatchTrack] = {}  # batch id -> batch still out on a node
        # (map id, item, attempt) -> the running batches that hold it: a new batch's duplicates
        # are found from its own items, not by reading every item out on the farm
        self.holding: dict[tuple[str, int, int], set[str]] = {}
        self.map_jobs: dict[str, str] = {}  # map id -> job id, for results of unseen batches
        self.throughput = Buckets()
        self.week = DeliveredWeek(start=wall())  # committed work by hour of the week

    # -------------------------------------------------------------- messages

    def observe(self, node_id: str, message: HubMessage | NodeMessage) -> None:
        """A message the hub sent a node or received from it."""
        now = self.wall()
        if isinstance(message, Assign):
            self._assigned(node_id, message, now)
        elif isinstance(message, CancelBatch):
            outcome = "expired" if "expired" in message.reason else "cancelled"
            self._ended(message.batch_id, now, outcome, message.reason)
        elif isinstance(message, Results | BatchFinished):
            self.node(node_id).last_heard = now
            if isinstance(message, Results):
                self._results(node_id, message, now)
            elif message.error:
                self._ended(message.batch_id, now, "failed", message.error)
            else:
                self._ended(message.batch_id, now, "finished")
        elif message.kind in ("heartbeat", "status"):  # alive, whatever its owner does
            self.node(node_id).last_heard = now

    def delivered(self, node_id: str, items: int, seconds: float) -> None:
        """Results the dispatcher committed just now (`Dispatcher.on_delivered`)."""
        self.week.add(self.wall(), items, seconds)

    def _assigned(self, node_id: str, assign: Assign, now: float) -> None:
        if not assign.tasks:
            return
        map_id = assign.tasks[0].map_id
        job = self._job(assign.job_id)
        track = self._map(job, assign.job_id, map_id, assign.activity)
        attempts = {task.index: task.attempt for task in assign.tasks}  # an item once
        indices = tuple(attempts)
        track.set_all(indices, RUNNING)
        batch = BatchTrack(
            id=assign.batch_id,
            job_id=assign.job_id,
            map_id=map_id,
            node_id=node_id,
            node_name=self.farm.node_name(node_id),
            activity=assign.activity,
            indices=indices,
            started=now,
            retry=any(attempt > 1 for attempt in attempts.values()),
            attempts=tuple(attempts.values()),
            duplicate_of=self._hold(map_id, attempts, assign.batch_id),
        )
        job.batches.append(batch)
        node = self.node(node_id)
        node.name = batch.node_name
        node.batches.append(batch)
        self.running[batch.id] = batch

    def _hold(self, map_id: str, attempts: dict[int, int], batch_id: str) -> tuple[str, ...]:
        """Note that the batch holds these attempts of its items; the nodes running the same
        attempts of some of them already (a batch sent with them duplicates their work)."""
        holding = self.holding
        copied: set[str] = set()
        for index, attempt in attempts.items():
            key = (map_id, index, attempt)
            holders = holding.get(key)
            if holders is None:
                holding[key] = {batch_id}
            else:
                copied.update(holders)
                holders.add(batch_id)
        if not copied:
            return ()
        names = (b.node_name for b in self.running.values() if b.id in copied)
        return tuple(dict.fromkeys(names))  # in the order the batches were sent

    def _results(self, node_id: str, message: Results, now: float) -> None:
        node = self.node(node_id)
        batch = self.running.get(message.batch_id)
        good, seconds = 0, 0.0
        found: dict[str, tuple[JobTrack | None, MapTrack | None]] = {}  # a message's one map
        for result in message.results:
            job, track = found.get(result.map_id) or found.setdefault(
                result.map_id, self._find_map(result.map_id)
            )
            seconds += result.seconds
            if result.ok:
                good += 1
                if track is not None:
                    track.set(result.index, DONE)
                if job is not None and isinstance(result.value, dict | list):  # Blobs are dicts
                    for blob in _blobs(result.value):
                        job.outputs.append(Output(result.map_id, result.index, *blob, at=now))
            elif track is not None:
                track.set(result.index, FAILED)
                track.errors[result.index] = result.error or "failed without a message"
        if batch is not None:
            batch.done += good
            batch.failed += len(message.results) - good
            speed = node.speed.setdefault(batch.activity, [0.0, 0.0])
            speed[0] += len(message.results)
            speed[1] += seconds
        if good:
            node.throughput.add(now, good)
            self.throughput.add(now, good)

    def _ended(self, batch_id: str, now: float, outcome: str, reason: str = "") -> None:
        batch = self.running.pop(batch_id, None)
        if batch is None:
            return
        holding, map_id = self.holding, batch.map_id
        for index, attempt in zip(batch.indices, batch.attempts, strict=True):
            key = (map_id, index, attempt)
            holders = holding.get(key)
            if holders is not None:
                holders.discard(batch_id)
                if not holders:
                    del holding[key]
        batch.ended = now
        batch.outcome = outcome
        batch.reason = reason
        job = self.jobs.get(batch.job_id)
        track = job.maps.get(batch.map_id) if job else None
        if track is not None:  # what it did not finish went back to the queue
            states = track.states
            for index in batch.indices:
                if index < len(states) and states[index] == RUNNING:
                    states[index] = PENDING

    # ------------------------------------------------------------------ sync

    def sync(self) -> None:
        """Close batches whose lease vanished while their node was away (no message says so)."""
        now = self.wall()
        for batch in list(self.running.values()):
            if not self.farm.node_connected(batch.node_id) and not (
                self.farm.lease_alive(batch.id)
            ):
                self._ended(batch.id, now, "lost", "its node went away")

    # ---------------------------------------------------------------- tracks

    def node(self, node_id: str) -> NodeTrack:
        track = self.nodes.get(node_id)
        if track is None:
            track = self.nodes[node_id] = NodeTrack(self.farm.node_name(node_id))
        return track

    def job(self, job_id: str) -> JobTrack | None:
        return self.jobs.get(job_id)

    def _job(self, job_id: str) -> JobTrack:
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = JobTrack(deque(maxlen=self.batches_per_job))
            while len(self.jobs) > self.jobs_kept:
                _, dropped = self.jobs.popitem(last=False)
                for map_id in dropped.maps:
                    self.map_jobs.pop(map_id, None)
        else:
            self.jobs.move_to_end(job_id)
        return job

    def _find_map(self, map_id: str) -> tuple[JobTrack | None, MapTrack | None]:
        """A map's job and items, met first through a result (a batch from before a restart)."""
        job_id = self.map_jobs.get(map_id)
        if job_id is None:
            info = self.farm.map_info(map_id)
            if info is None:
                return None, None
            new = self._job(info.job_id)
            return new, self._map(new, info.job_id, map_id, info.activity)
        job = self.jobs.get(job_id)
        return job, job.maps.get(map_id) if job else None

    def _map(self, job: JobTrack, job_id: str, map_id: str, activity: str) -> MapTrack:
        track = job.maps.get(map_id)
        if track is not None:
            return track
        info = self.farm.map_info(map_id)
        track = MapTrack(map_id, job_id, activity, bytearray(info.count if info else 0))
        for index in info.committed if info else ():  # committed before the watch saw it
            track.set(index, DONE)
        job.maps[map_id] = track
        self.map_jobs[map_id] = job_id
        return track

    # --------------------------------------------------------------- figures

    def running_batches(self, node_id: str) -> list[BatchTrack]:
        return [b for b in self.running.values() if b.node_id == node_id]

    def items_per_second(self) -> float:
        return self.throughput.per_second(self.wall())

    def rate(self, node_id: str, activity: str) -> float | None:
        """A node's measured items per second per slot for an activity, None before any."""
        speed = self.nodes[node_id].speed.get(activity) if node_id in self.nodes else None
        if not speed or speed[1] <= 0:
            return None
        return speed[0] / speed[1]

    def rates(self, node_id: str) -> dict[str, float]:
        """A node's measured items per second per slot, for each activity it was seen doing."""
        node = self.nodes.get(node_id)
        speeds = node.speed.items() if node is not None else ()
        return {activity: done / seconds for activity, (done, seconds) in speeds if seconds > 0}

    def item_batches(self, job_id: str, map_id: str, index: int) -> Iterator[BatchTrack]:
        """The batches that carried an item, oldest first (within the job's ring)."""
        job = self.jobs.get(job_id)
        for batch in job.batches if job else ():
            if batch.map_id == map_id and index in batch.indices:
                yield batch


def _blobs(value: Any, depth: int = 0) -> Iterator[tuple[str, int, str]]:
    """(sha256, size, name) of every Blob in a result's JSON (Blobs are such objects)."""
    if isinstance(value, dict):
        sha = value.get("sha256")
        if isinstance(sha, str) and _SHA256.fullmatch(sha):
            size = value.get("size")
            yield sha, size if isinstance(size, int) else 0, str(value.get("name", ""))[:200]
        elif depth < 4:
            for inner in value.values():
                yield from _blobs(inner, depth + 1)
    elif isinstance(value, list) and depth < 4:
        for inner in value[:100]:
            yield from _blobs(inner, depth + 1)
