"""The dispatcher: hands the tasks of running maps to connected nodes, under leases.

It bridges the interpreter's maps and the nodes' connections. For each map it keeps which items
are pending, which are leased to which node, and which are committed. Results count only for a
task's current attempt and are stored before they are acknowledged, so each item's result is
committed exactly once whatever nodes do: crash, freeze, reconnect, or send a result twice.

Lease rules:
- a batch is leased to a node for `lease_seconds`; the node's heartbeats extend it;
- a node that disconnects keeps its leases for `grace_seconds` only, and may claim them back when
  it reconnects (it goes on working while away), so a brief outage wastes nothing;
- an expired lease puts its unfinished items back in the queue; the next dispatch gives them a new
  attempt, which fences off any late result of the old one;
- after a hub restart, items that were out on nodes wait `grace_seconds` for their nodes to claim
  them before they are sent again.

How many items a node gets at once is the planner's decision (`scheduling.planner`); this module
only carries decisions out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from witengine.clock import Clock
from witengine.errors import NoCompatibleNode
from witengine.hub.rates import RateBook
from witengine.hub.store.base import Commit, Store
from witengine.protocol import (
    Ack,
    Assign,
    BatchFinished,
    CancelBatch,
    Heartbeat,
    HubMessage,
    NodeHello,
    NodeMessage,
    ResultKey,
    Results,
    TaskSpec,
)
from witengine.runtime.executor import ItemFailed, MapRequest, Progress
from witengine.scheduling.planner import Planner, SplitPlanner

log = logging.getLogger(__name__)

Json = Any
Send = Callable[[HubMessage], None]


@dataclass
class _Lease:
    """Items of one map leased to one node (or, after a restart, to no one yet)."""

    batch_id: str
    map_id: str
    node_id: str | None
    indices: set[int]
    deadline: float


@dataclass
class _Node:
    id: str
    name: str
    slots: int
    activities: frozenset[str]
    send: Send | None  # None while disconnected
    leases: set[str] = field(default_factory=set)
    done: int = 0
    last_seen: float = 0.0
    silent: bool = False  # let a lease expire: no new work until it is heard from again

    @property
    def connected(self) -> bool:
        return self.send is not None


@dataclass
class _Map:
    id: str
    job_id: str
    activity: str
    items: Sequence[Sequence[Json]]
    attempts: dict[int, int]
    results: dict[int, Json]
    pending: deque[int]
    progress: Progress
    future: asyncio.Future[list[Json]]
    tries: dict[int, int] = field(default_factory=dict)
    waiting_since: float | None = None  # when it began to lack any node that can run it

    @property
    def count(self) -> int:
        return len(self.items)


def map_digest(request: MapRequest) -> str:
    """Identifies a map's work: the activity and every item's arguments."""
    digest = hashlib.sha256(request.activity.encode())
    for item in request.items:
        digest.update(json.dumps(item, separators=(",", ":"), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


class Dispatcher:
    """Owns maps in flight, node links and leases; driven by the hub's loop."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        planner: Planner | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 5.0,
        grace_seconds: float = 5.0,
        no_node_seconds: float = 30.0,
        max_tries: int = 3,
    ) -> None:
        self.store = store
        self.clock = clock
        self.planner = planner or SplitPlanner()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.grace_seconds = grace_seconds
        self.no_node_seconds = no_node_seconds
        self.max_tries = max_tries
        self.maps: dict[str, _Map] = {}
        self.nodes: dict[str, _Node] = {}
        # job -> node name -> [items committed, seconds they took]: who did how much
        self.work: dict[str, dict[str, list[float]]] = {}
        self.leases: dict[str, _Lease] = {}
        # Benchmark rates for the scheduler: rates.rates_for(activity) -> {node_id: units/s},
        # rates.subscribe(listener) for each new one. Kept by the node routes.
        self.rates = RateBook(store)
        # Drained nodes (by id) finish the batches they hold and are given no new ones.
        self.drained: set[str] = set()
        self._wake = asyncio.Event()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ maps

    async def run_map(
        self, job_id: str, seq: int, request: MapRequest, progress: Progress
    ) -> list[Json]:
        """Run every item of a map on nodes; results in input order."""
        if not request.items:
            return []
        stored = self.store.open_map(
            f"map_{uuid.uuid4().hex[:16]}",
            job_id,
            seq,
            request.activity,
            map_digest(request),
            request.items,
        )
        map_id = stored.record.id
        if stored.failures:
            index, error = min(stored.failures.items())
            raise ItemFailed(index, error)
        loop = asyncio.get_running_loop()
        state = _Map(
            map_id,
            job_id,
            request.activity,
            request.items,
            dict(stored.attempts),
            dict(stored.results),
            deque(),
            progress,
            loop.create_future(),
        )
        now = self.clock.now()
        recovered: set[int] = set()
        for index in range(state.count):
            if index in state.results:
                continue
            if state.attempts.get(index, 0) > 0:
                recovered.add(index)  # was out on a node when the hub stopped
            else:
                state.pending.append(index)
        if recovered:
            batch_id = f"recovered_{map_id}"
            self.leases[batch_id] = _Lease(
                batch_id, map_id, None, recovered, now + self.grace_seconds
            )
        self.maps[map_id] = state
        progress(len(state.results), state.count)
        self._check_complete(state)
        self.wake()
        try:
            return await state.future
        finally:
            self._close_map(state)

    def _close_map(self, state: _Map) -> None:
        """Forget a map that ended (completed, failed or cancelled) and recall its batches."""
        self.maps.pop(state.id, None)
        for lease in [lease for lease in self.leases.values() if lease.map_id == state.id]:
            self._drop_lease(lease, cancel=not state.future.done() or bool(lease.indices))

    def work_by_node(self, job_id: str) -> dict[str, list[float]]:
        """Items each node committed for a job since this hub started, and their seconds."""
        return {name: list(work) for name, work in self.work.get(job_id, {}).items()}

    def cancel_job(self, job_id: str) -> None:
        """Stop dispatching a job's maps; their awaiting callers see CancelledError."""
        for state in [m for m in self.maps.values() if m.job_id == job_id]:
            if not state.future.done():
                state.future.cancel()

    # ----------------------------------------------------------------- nodes

    def connect(self, hello: NodeHello, send: Send) -> str:
        """Register a node's connection; give back the leases it still holds."""
        node_id = hello.node_id or f"node_{uuid.uuid4().hex[:12]}"
        previous = self.nodes.get(node_id)
        node = _Node(
            node_id,
            hello.name,
            hello.slots,
            frozenset(hello.activities),
            send,
            leases=previous.leases if previous else set(),
            done=previous.done if previous else 0,
            last_seen=self.clock.now(),
        )
        self.nodes[node_id] = node
        for batch_id, keys in hello.holding.items():
            self._reclaim(node, batch_id, keys)
        self.wake()
        return node_id

    def _reclaim(self, node: _Node, batch_id: str, keys: Sequence[ResultKey]) -> None:
        claimed: dict[str, set[int]] = {}
        for key in keys:
            state = self.maps.get(key.map_id)
            if state is None or key.index in state.results:
                continue
            if state.attempts.get(key.index) != key.attempt:
                continue
            holder = self._lease_of(key.map_id, key.index)
            if holder is not None and holder.node_id not in (None, node.id):
                continue
            if holder is not None:
                holder.indices.discard(key.index)
            if key.index in state.pending:
                state.pending.remove(key.index)
            claimed.setdefault(key.map_id, set()).add(key.index)
        for map_id, indices in claimed.items():
            lease_id = batch_id if len(claimed) == 1 else f"{batch_id}:{map_id}"
            self._set_aside_unclaimed(lease_id)
            self.leases[lease_id] = _Lease(
                lease_id, map_id, node.id, indices, self.clock.now() + self.lease_seconds
            )
            node.leases.add(lease_id)
        self._prune_empty_leases()

    def _set_aside_unclaimed(self, lease_id: str) -> None:
        """Keep the items of lease `lease_id` its node did not claim back under another id, held
        by no node for the grace period: their results may still be in the node's outbox."""
        rest = self.leases.pop(lease_id, None)
        if rest is None or not rest.indices:
            return
        rest.batch_id = f"{lease_id}:unclaimed"
        rest.node_id = None
        rest.deadline = min(rest.deadline, self.clock.now() + self.grace_seconds)
        self.leases[rest.batch_id] = rest

    def _lease_of(self, map_id: str, index: int) -> _Lease | None:
        for lease in self.leases.values():
            if lease.map_id == map_id and index in lease.indices:
                return lease
        return None

    def disconnect(self, node_id: str) -> None:
        """The node's connection closed: its leases run out after the grace period."""
        node = self.nodes.get(node_id)
        if node is None:
            return
        node.send = None
        limit = self.clock.now() + self.grace_seconds
        for batch_id in node.leases:
            lease = self.leases.get(batch_id)
            if lease is not None:
                lease.deadline = min(lease.deadline, limit)

    def handle(self, node_id: str, message: NodeMessage) -> None:
        """A message from a node."""
        node = self.nodes.get(node_id)
        if node is None:
            return
        node.last_seen = self.clock.now()
        node.silent = False
        if isinstance(message, Results):
            self._results(node, message)
        elif isinstance(message, BatchFinished):
            self._batch_finished(node, message)
        elif isinstance(message, Heartbeat):
            deadline = self.clock.now() + self.lease_seconds
            for batch_id in message.batches:
                lease = self.leases.get(batch_id)
                if lease is not None and lease.node_id == node.id:
                    lease.deadline = deadline

    # --------------------------------------------------------------- results

    def _results(self, node: _Node, message: Results) -> None:
        by_map: dict[str, list[Commit]] = {}
        failed: dict[str, list[tuple[int, str]]] = {}
        late = 0
        seen: set[tuple[str, int]] = set()
        for result in message.results:
            state = self.maps.get(result.map_id)
            if state is None or state.attempts.get(result.index) != result.attempt:
                late += 1  # fenced off: an old attempt, or a map that has ended
                continue
            if result.index in state.results or (result.map_id, result.index) in seen:
                continue  # settled already, or sent twice in this message: the first counts
            seen.add((result.map_id, result.index))
            if result.ok:
                by_map.setdefault(result.map_id, []).append(
                    Commit(result.index, result.attempt, result.value)
                )
                continue
            tries = state.tries.get(result.index, 0) + 1
            state.tries[result.index] = tries
            error = result.error or "failed without a message"
            if tries >= self.max_tries:
                by_map.setdefault(result.map_id, []).append(
                    Commit(result.index, result.attempt, error=error)
                )
            else:
                failed.setdefault(result.map_id, []).append((result.index, error))
        if late:
            log.info("ignored %d late result(s) from %s (attempts fenced off)", late, node.name)
        seconds = {(r.map_id, r.index): r.seconds for r in message.results}
        for map_id, commits in by_map.items():
            self._commit(node, self.maps[map_id], commits, seconds)
        for map_id, failures in failed.items():
            state = self.maps[map_id]
            for index, error in failures:
                log.info(
                    "item %s of %s failed on %s, retrying: %s", index, map_id, node.name, error
                )
                self._release(map_id, index)
                state.pending.appendleft(index)
        if node.send is not None:
            keys = [(r.map_id, r.index, r.attempt) for r in message.results]
            node.send(Ack.model_construct(results=keys))  # built here from checked values
        self.wake()

    def _commit(
        self,
        node: _Node,
        state: _Map,
        commits: list[Commit],
        seconds: dict[tuple[str, int], float] | None = None,
    ) -> None:
        accepted = set(self.store.commit(state.id, commits))
        failure: Commit | None = None
        work = self.work.setdefault(state.job_id, {}).setdefault(node.name, [0, 0.0])
        for commit in commits:
            if commit.index not in accepted:
                continue
            self._release(state.id, commit.index)
            if commit.error is not None:
                failure = failure or commit
                continue
            state.results[commit.index] = commit.value
            node.done += 1
            work[0] += 1
            work[1] += (seconds or {}).get((state.id, commit.index), 0.0)
        if failure is not None and not state.future.done():
            state.future.set_exception(ItemFailed(failure.index, failure.error or ""))
            return
        state.progress(len(state.results), state.count)
        self._check_complete(state)

    def _check_complete(self, state: _Map) -> None:
        if len(state.results) == state.count and not state.future.done():
            state.future.set_result([state.results[i] for i in range(state.count)])

    def _release(self, map_id: str, index: int) -> None:
        lease = self._lease_of(map_id, index)
        if lease is not None:
            lease.indices.discard(index)
        self._prune_empty_leases()

    def _batch_finished(self, node: _Node, message: BatchFinished) -> None:
        lease = self.leases.get(message.batch_id)
        if lease is None or lease.node_id != node.id:
            return
        if message.error:
            log.warning("batch %s failed on %s: %s", message.batch_id, node.name, message.error)
        self._requeue(lease)
        self.wake()

    # --------------------------------------------------------------- leases

    def _requeue(self, lease: _Lease) -> None:
        """Put a lease's unfinished items back at the front of their map's queue."""
        self._drop_lease(lease, cancel=False)
        state = self.maps.get(lease.map_id)
        if state is None:
            return
        for index in sorted(lease.indices, reverse=True):
            if index not in state.results:
                state.pending.appendleft(index)

    def _drop_lease(self, lease: _Lease, *, cancel: bool) -> None:
        self.leases.pop(lease.batch_id, None)
        node = self.nodes.get(lease.node_id) if lease.node_id else None
        if node is None:
            return
        node.leases.discard(lease.batch_id)
        if cancel and node.send is not None:
            node.send(CancelBatch(batch_id=lease.batch_id, reason="no longer needed"))

    def _prune_empty_leases(self) -> None:
        for lease in [lease for lease in self.leases.values() if not lease.indices]:
            self.leases.pop(lease.batch_id, None)
            node = self.nodes.get(lease.node_id) if lease.node_id else None
            if node is not None:
                node.leases.discard(lease.batch_id)

    def expire(self) -> None:
        """Requeue every lease past its deadline; fail maps no node can run for too long."""
        now = self.clock.now()
        for lease in [lease for lease in self.leases.values() if lease.deadline <= now]:
            node = self.nodes.get(lease.node_id) if lease.node_id else None
            log.info(
                "lease %s of %s expired (%d items back in the queue)",
                lease.batch_id,
                node.name if node else "the hub's last run",
                len(lease.indices),
            )
            if node is not None and node.send is not None:
                node.silent = True
                node.send(CancelBatch(batch_id=lease.batch_id, reason="lease expired"))
            self._requeue(lease)
        for state in self.maps.values():
            if state.future.done() or not state.pending:
                state.waiting_since = None
                continue
            # A silent node still counts: it may only be frozen for a while. If it is gone for
            # good, its connection closes (WebSocket pings) and it stops counting.
            if any(self._could_run(n, state) for n in self.nodes.values()):
                state.waiting_since = None
            elif state.waiting_since is None:
                state.waiting_since = now
            elif now - state.waiting_since >= self.no_node_seconds:
                state.future.set_exception(self._no_node(state))

    def _no_node(self, state: _Map) -> NoCompatibleNode:
        online = [n for n in self.nodes.values() if n.connected]
        if not online:
            return NoCompatibleNode(
                f"no node is connected to run {state.activity} "
                f"(waited {self.no_node_seconds:g} s); start one with `wit node --hub URL`"
            )
        names = ", ".join(sorted(n.name for n in online))
        return NoCompatibleNode(
            f"no connected node can run {state.activity} (connected: {names}); "
            "install the plugin that provides it on a node"
        )

    # -------------------------------------------------------------- dispatch

    def _could_run(self, node: _Node, state: _Map) -> bool:
        return node.connected and state.activity in node.activities

    def _can_run(self, node: _Node, state: _Map) -> bool:
        return self._could_run(node, state) and not node.silent

    def dispatch(self) -> None:
        """Give work to every node with room for it."""
        for node in list(self.nodes.values()):
            if node.id in self.drained:
                continue
            while node.connected and not node.silent and len(node.leases) < node.slots + 1:
                state = next(
                    (m for m in self.maps.values() if m.pending and self._can_run(node, m)),
                    None,
                )
                if state is None:
                    break
                self._assign(node, state)

    def _assign(self, node: _Node, state: _Map) -> None:
        eligible = [n for n in self.nodes.values() if self._can_run(n, state)]
        size = self.planner.batch_size(
            remaining=len(state.pending),
            node_slots=node.slots,
            total_slots=sum(n.slots for n in eligible),
        )
        indices: list[int] = []
        while state.pending and len(indices) < size:
            index = state.pending.popleft()
            if index not in state.results:  # a late result may have settled it meanwhile
                indices.append(index)
        if not indices:
            return
        for index in indices:
            state.attempts[index] = state.attempts.get(index, 0) + 1
        self.store.set_attempts(state.id, [(i, state.attempts[i]) for i in indices])
        batch_id = f"batch_{next(self._ids)}_{uuid.uuid4().hex[:8]}"
        self.leases[batch_id] = _Lease(
            batch_id, state.id, node.id, set(indices), self.clock.now() + self.lease_seconds
        )
        node.leases.add(batch_id)
        tasks = [  # built here from checked values: no need to validate them again
            TaskSpec.model_construct(
                map_id=state.id, index=i, attempt=state.attempts[i], args=list(state.items[i])
            )
            for i in indices
        ]
        assert node.send is not None
        node.send(
            Assign(
                batch_id=batch_id,
                job_id=state.job_id,
                activity=state.activity,
                tasks=tasks,
                lease_seconds=self.lease_seconds,
            )
        )

    # ------------------------------------------------------------------ loop

    def wake(self) -> None:
        self._wake.set()

    async def run(self, tick_seconds: float = 0.25) -> None:
        """Dispatch when woken, and check leases every tick; runs until cancelled."""
        while True:
            self.expire()
            self.dispatch()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick_seconds)
