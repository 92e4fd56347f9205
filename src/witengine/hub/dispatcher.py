"""The dispatcher: carries out the scheduler's decisions over the nodes' connections.

It bridges the interpreter's maps, the scheduler (`witengine.scheduling`: who gets which items,
under which lease, duplicates near the end, blocklists) and the nodes' WebSockets. The policy is
the scheduler's; this module does the I/O the scheduler must not: it stores attempts and results,
sends batches and cancels, and tells the schedule what happened. Results count only for an
item's current attempt and are stored before they are acknowledged, so each item's result is
committed exactly once whatever nodes do: crash, freeze, reconnect, or send a result twice.

What the dispatcher itself decides is when a node counts as gone:
- a node whose connection closed keeps its batches for `grace_seconds`; back within that time
  (it goes on working while away) it simply carries on; otherwise the schedule hears it is lost
  and puts its unfinished items back; a node that said it is leaving is lost at once;
- a node whose lease ran out (frozen, or cut off) gets its batch cancelled and no new work until
  it is heard from again;
- after a hub restart, the items committed before it are kept; a map whose items were out on
  nodes waits, until `grace_seconds` after the hub started, for those nodes to come back and
  deliver what they finished while the hub was away (or say they no longer hold it); the rest
  run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from witengine.clock import Clock
from witengine.errors import NoCompatibleNode, WitError
from witengine.hub.dispatch_state import (
    Arrivals,
    Json,
    Lease,
    MapState,
    NodeState,
    Reclaim,
    Send,
    map_digest,
    mentions,
)
from witengine.hub.rates import RateBook
from witengine.hub.store.base import Commit, Store
from witengine.hub.store.base import MapState as StoredMap
from witengine.protocol import (
    Ack,
    Assign,
    BatchFinished,
    CancelBatch,
    Heartbeat,
    NodeHello,
    NodeMessage,
    ResultKey,
    Results,
    TaskResult,
    TaskSpec,
)
from witengine.runtime.executor import ItemFailed, MapRequest, Progress
from witengine.runtime.values import Strategy
from witengine.scheduling.core import Grant, Verdict, Worker
from witengine.scheduling.farm import Farm
from witengine.scheduling.settings import FarmSettings
from witengine.waiting import within

log = logging.getLogger(__name__)

# (activity, every item's arguments) -> (its plugin, each item's estimated work)
Estimator = Callable[[str, Sequence[Sequence[Json]]], tuple[str, list[float]]]


def uniform_estimate(activity: str, items: Sequence[Sequence[Json]]) -> tuple[str, list[float]]:
    """One unit of work per item, and the activity's module as its plugin."""
    return activity.rpartition(".")[0], [1.0] * len(items)


class Dispatcher:
    """Owns maps in flight, node links and batches; driven by the hub's loop."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        estimate: Estimator = uniform_estimate,
        farm: FarmSettings | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 5.0,
        grace_seconds: float = 5.0,
        no_node_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.estimate = estimate
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.grace_seconds = grace_seconds
        self.no_node_seconds = no_node_seconds
        # Batch ids carry this run's prefix: a node's results from before a hub restart can
        # never be taken for a new batch's.
        settings = farm or FarmSettings(
            min_lease=lease_seconds, batch_prefix=f"batch_{uuid.uuid4().hex[:6]}"
        )
        self.farm = Farm(settings)
        self.maps: dict[str, MapState] = {}
        self.started = clock.now()  # a map resumed after a restart waits for nodes from here
        self.reclaims: dict[str, Reclaim] = {}  # resumed maps waiting for what nodes kept
        self.nodes: dict[str, NodeState] = {}
        # job -> node name -> [items committed, seconds they took]: who did how much
        self.work: dict[str, dict[str, list[float]]] = {}
        self.leases: dict[str, Lease] = {}
        # Benchmark rates, kept by the node routes; each new one seeds the scheduler's model.
        self.rates = RateBook(store)
        self.rates.subscribe(self._benchmarked)
        # Drained nodes (by id) finish the batches they hold and are given no new ones.
        self.drained: set[str] = set()
        self.held: set[str] = set()  # paused jobs: no new batches for their maps
        self._wake = asyncio.Event()
        self._granted = 0  # batches sent since this hub started
        self._inbox: list[tuple[str, NodeMessage]] = []  # received, not yet handled

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
        if stored.failures:
            index, error = min(stored.failures.items())
            raise ItemFailed(index, error)
        results = dict(stored.results)
        await self._reclaim(stored, job_id, results, progress)
        todo = [i for i in range(len(request.items)) if i not in results]
        plugin, work = self._estimate(request.activity, [request.items[i] for i in todo])
        options = request.options
        workers = self._workers(request.activity, job_id)
        self._seed_rates(request.activity)
        schedule = self.farm.schedule(
            job_id,
            request.activity,
            plugin,
            work,
            options.strategy if options is not None else Strategy.ADAPTIVE,
            workers,
            now=self.clock.now(),
            max_nodes=options.max_nodes if options is not None else None,
        )
        state = MapState(
            stored.record.id,
            job_id,
            request.activity,
            request.items,
            dict(stored.attempts),
            results,
            progress,
            asyncio.get_running_loop().create_future(),
            schedule,
            todo,
            workers,
            {item: position for position, item in enumerate(todo)},
            plugin=plugin,
        )
        self.maps[state.id] = state
        progress(len(state.results), state.count)
        self._check_complete(state)
        self.wake()
        try:
            return await state.future
        finally:
            self._close_map(state)

    async def _reclaim(
        self, stored: StoredMap, job_id: str, results: dict[int, Json], progress: Progress
    ) -> None:
        """A map resumed after a restart, with items out on nodes at the crash: wait for them
        (see `Reclaim`) until every one is accounted for or the grace after the hub's start ends.
        The results that come meanwhile are committed into `results`."""
        out = {i: a for i, a in stored.attempts.items() if a and i not in results}
        deadline = self.started + self.grace_seconds
        if not out or self.clock.now() >= deadline:
            return
        future = asyncio.get_running_loop().create_future()
        count = stored.record.count
        reclaim = Reclaim(stored.record.id, job_id, count, results, progress, out, deadline, future)
        self.reclaims[reclaim.id] = reclaim
        progress(len(results), count)
        log.info(
            "%s resumed: %d item(s) were out on nodes; waiting up to %g s for what they kept",
            reclaim.id,
            len(out),
            deadline - self.clock.now(),
        )
        try:
            await future
        finally:
            del self.reclaims[reclaim.id]

    def _estimate(self, activity: str, items: Sequence[Sequence[Json]]) -> tuple[str, list[float]]:
        try:
            return self.estimate(activity, items)
        except WitError as error:  # a plugin's estimate is a hint: plan without it
            log.warning("%s; planning one unit of work per item", error)
            return uniform_estimate(activity, items)

    def _close_map(self, state: MapState) -> None:
        """Forget a map that ended (completed, failed or cancelled) and recall its batches."""
        self.maps.pop(state.id, None)
        for lease in [lease for lease in self.leases.values() if lease.map_id == state.id]:
            self._drop_lease(lease, cancel=True)

    def work_by_node(self, job_id: str) -> dict[str, list[float]]:
        """Items each node committed for a job since this hub started, and their seconds."""
        return {name: list(work) for name, work in self.work.get(job_id, {}).items()}

    def remaining_seconds(self, job_id: str) -> float | None:
        """The rate model's prediction of the time the job's open maps still need (the longest
        of them: maps side by side are assumed not to slow each other); None when it cannot
        tell: no map open, the job paused, or no node able to run one."""
        if job_id in self.held:
            return None
        now = self.clock.now()
        longest: float | None = None
        for state in self.maps.values():
            if state.job_id != job_id or state.future.done():
                continue
            seconds = state.schedule.remaining_seconds(now)
            if seconds is None or not math.isfinite(seconds):
                return None
            longest = max(longest or 0.0, seconds)
        return longest

    def cancel_job(self, job_id: str) -> None:
        """Stop dispatching a job's maps; their awaiting callers see CancelledError."""
        for state in [m for m in self.maps.values() if m.job_id == job_id]:
            if not state.future.done():
                state.future.cancel()
        for reclaim in [r for r in self.reclaims.values() if r.job_id == job_id]:
            reclaim.settled.cancel()

    def hold(self, job_id: str) -> None:
        """A paused job: its maps get no new batches (those out on nodes finish)."""
        self.held.add(job_id)

    def release(self, job_id: str) -> None:
        self.held.discard(job_id)
        self.wake()

    def job_ended(self, job_id: str) -> None:
        """Forget what only mattered while the job ran (its blocklist, its hold)."""
        self.held.discard(job_id)
        self.farm.job_ended(job_id)

    # ----------------------------------------------------------------- rates

    def _benchmarked(self, record: Any) -> None:
        with contextlib.suppress(ValueError):  # a zero rate says nothing to plan with
            self.farm.rates.benchmark(record.node_id, record.activity, record.rate)

    def _seed_rates(self, activity: str) -> None:
        """Benchmarks the scheduler has not met yet (stored before this hub started, say)."""
        for node_id, rate in self.rates.rates_for(activity).items():
            if not self.farm.rates.known(node_id, activity) and rate > 0:
                self.farm.rates.benchmark(node_id, activity, rate)

    # ----------------------------------------------------------------- nodes

    def connect(self, hello: NodeHello, send: Send) -> str:
        """Register a node's connection; it carries on with the batches it still holds."""
        node_id = hello.node_id or f"node_{uuid.uuid4().hex[:12]}"
        previous = self.nodes.get(node_id)
        node = NodeState(
            node_id,
            hello.name,
            hello.slots,
            frozenset(hello.activities),
            send,
            leases=previous.leases if previous else set(),
            done=previous.done if previous else 0,
            served=previous.served if previous else 0,
            last_seen=self.clock.now(),
            unclaimed=previous.leases - set(hello.holding) if previous else set(),
        )
        self.nodes[node_id] = node
        for batch_id in hello.holding:
            lease = self.leases.get(batch_id)
            if lease is None or lease.node_id != node_id:
                # Given up on while it was away (or before a hub restart): its items run again
                # elsewhere, so the node may stop; whatever it sends of it is acknowledged.
                send(CancelBatch(batch_id=batch_id, reason="given to other nodes meanwhile"))
                self._not_coming(hello.holding[batch_id])
        self._workers_changed()
        return node_id

    def _not_coming(self, keys: Iterable[ResultKey]) -> None:
        """Items a node held from before a hub restart and now stops: no resumed map waits for
        them any longer."""
        for key in keys:
            reclaim = self.reclaims.get(key.map_id)
            if reclaim is not None and reclaim.takes(key.index, key.attempt):
                reclaim.accounted([key.index])

    def node_holds_blob(self, node_id: str, sha256: str) -> bool:
        """Whether a batch leased to the node names the blob among its items' arguments."""
        node = self.nodes.get(node_id)
        if node is None:
            return False
        for batch_id in node.leases:
            lease = self.leases.get(batch_id)
            state = self.maps.get(lease.map_id) if lease is not None else None
            if lease is None or state is None or lease.node_id != node_id:
                continue
            if any(mentions(state.items[index], sha256) for index in lease.indices):
                return True
        return False

    def disconnect(self, node_id: str, *, leaving: bool = False) -> None:
        """The node's connection closed: it is lost unless it is back within the grace period;
        at once when it said it is leaving (it stopped its work)."""
        node = self.nodes.get(node_id)
        if node is None:
            return
        node.send = None
        if leaving:
            node.away_since = None
            self._lose(node, self.clock.now())
            return
        node.away_since = self.clock.now()
        self._workers_changed()

    def forget(self, node_id: str) -> None:
        """A node that is not connected leaves the farm for good: what it still held goes to
        other nodes now, and it is no longer counted anywhere."""
        node = self.nodes.get(node_id)
        if node is not None:
            assert not node.connected, "only a node that is not connected is forgotten"
            self._lose(node, self.clock.now())
            del self.nodes[node_id]
        self.drained.discard(node_id)
        self.rates.node_forgotten(node_id)
        self._workers_changed()

    def receive(self, node_id: str, message: NodeMessage) -> None:
        """A message from a node, handled with every other that arrives in the same turn of the
        event loop: a farm's results then cost one store transaction per map, not one per
        message, and each is still stored before it is acknowledged."""
        self._inbox.append((node_id, message))
        if len(self._inbox) == 1:
            asyncio.get_running_loop().call_soon(self._handle_inbox)

    def _handle_inbox(self) -> None:
        inbox, self._inbox = self._inbox, []
        self.handle_many(inbox)

    def handle(self, node_id: str, message: NodeMessage) -> None:
        """A message from a node, handled at once."""
        self.handle_many([(node_id, message)])

    def handle_many(self, messages: Sequence[tuple[str, NodeMessage]]) -> None:
        """Messages from nodes, in the order they arrived; their results are committed
        together at the end, then acknowledged."""
        arrivals = Arrivals()
        for node_id, message in messages:
            node = self.nodes.get(node_id)
            if node is None:
                continue
            node.last_seen = self.clock.now()
            if node.silent:
                node.silent = False
                self._workers_changed()
            if isinstance(message, Results):
                self._results(node, message, arrivals)
            elif isinstance(message, BatchFinished):
                self._batch_finished(node, message)
            elif isinstance(message, Heartbeat):
                self._heartbeat(node, message)
        if arrivals.acks:
            self._settle(arrivals)

    def _heartbeat(self, node: NodeState, message: Heartbeat) -> None:
        now = self.clock.now()
        if node.unclaimed:
            self._release_unclaimed(node, set(message.batches), now)
        for batch_id in message.batches:
            lease = self.leases.get(batch_id)
            if lease is not None and lease.node_id == node.id:
                state = self.maps.get(lease.map_id)
                if state is not None:
                    state.schedule.heartbeat(batch_id, now)

    def _release_unclaimed(self, node: NodeState, named: set[str], now: float) -> None:
        """Batches a node came back without (a restarted node holds none) go back in the queue
        at its first heartbeat, not when their lease runs out: till then they kept its slots
        full, so it sat idle. The results it kept of them came before the heartbeat did."""
        for batch_id in sorted(node.unclaimed - named):
            lease = self.leases.get(batch_id)
            if lease is None or lease.node_id != node.id:
                continue
            log.info(
                "%s came back without batch %s: its %d items back in the queue",
                node.name,
                batch_id,
                len(lease.indices),
            )
            state = self.maps.get(lease.map_id)
            if state is not None:
                state.schedule.batch_ended(batch_id, now)
            self._drop_lease(lease, cancel=False)
        node.unclaimed.clear()
        self.wake()

    def _usable(self, node: NodeState) -> bool:
        return node.connected and not node.silent and node.id not in self.drained

    def _workers(self, activity: str, job_id: str) -> tuple[Worker, ...]:
        if job_id in self.held:
            return ()
        return tuple(
            Worker(node.id, node.slots)
            for node in self.nodes.values()
            if self._usable(node) and activity in node.activities
        )

    def _workers_changed(self) -> None:
        """Tell each schedule whose nodes changed which can run it now."""
        now = self.clock.now()
        for state in self.maps.values():
            workers = self._workers(state.activity, state.job_id)
            if workers != state.workers:
                state.workers = workers
                state.schedule.workers_changed(workers, now)
        self.wake()

    # --------------------------------------------------------------- results

    def _results(self, node: NodeState, message: Results, arrivals: Arrivals) -> None:
        """Tell the schedule of each result; keep those it commits in `arrivals`."""
        now = self.clock.now()
        commits = arrivals.commits
        late = withdrawn = 0
        for result in message.results:
            state = self.maps.get(result.map_id)
            if state is None and result.map_id in self.reclaims:
                self._reclaimed(node, self.reclaims[result.map_id], result, arrivals)
                continue
            if state is None or state.attempts.get(result.index) != result.attempt:
                late += 1  # fenced off: an old attempt, or a map that has ended
                continue
            lease = self._lease_holding(node, state, result)
            if lease is None:
                withdrawn += 1  # its batch was called back (a copy that lost), or given away
                continue
            lease.indices.discard(result.index)
            arrivals.touched.add(lease.batch_id)
            outcome = state.schedule.result(
                lease.batch_id,
                state.positions[result.index],
                ok=result.ok,
                now=now,
                seconds=result.seconds,
                error=result.error or "",
                final=result.final,
            )
            for batch_id in outcome.cancel:
                self._cancel_lease(batch_id, "another node finished its items first")
            if outcome.verdict is Verdict.COMMIT:
                commits.setdefault(state.id, []).append(
                    (node, Commit(result.index, result.attempt, result.value), result.seconds)
                )
            elif outcome.verdict is Verdict.FAIL:
                error = result.error or "failed without a message"
                commits.setdefault(state.id, []).append(
                    (node, Commit(result.index, result.attempt, error=error), result.seconds)
                )
            elif outcome.verdict is Verdict.RETRY:
                state.last_failure = (result.index, result.error or "failed without a message")
                log.info(
                    "item %s of %s failed on %s, to be tried again: %s",
                    result.index,
                    state.id,
                    node.name,
                    result.error,
                )
        if late:
            log.info("ignored %d late result(s) from %s (attempts fenced off)", late, node.name)
        if withdrawn:  # routine near the end of a map: the losing copies of duplicated items
            log.debug("ignored %d result(s) of withdrawn batches from %s", withdrawn, node.name)
        keys = arrivals.acks.setdefault(node.id, [])
        keys += [(r.map_id, r.index, r.attempt) for r in message.results]

    def _reclaimed(
        self, node: NodeState, reclaim: Reclaim, result: TaskResult, arrivals: Arrivals
    ) -> None:
        """A result kept by a node across a hub restart, for a resumed map not yet scheduled:
        committed if it is the item's current attempt and ok; a failure runs again."""
        if not reclaim.takes(result.index, result.attempt):
            return
        if result.ok:
            commit = Commit(result.index, result.attempt, result.value)
            arrivals.commits.setdefault(reclaim.id, []).append((node, commit, result.seconds))
        else:
            reclaim.accounted([result.index])

    def _settle(self, arrivals: Arrivals) -> None:
        """Commit what arrived, then acknowledge every result to its node, kept or not."""
        for map_id, entries in arrivals.commits.items():
            state = self.maps.get(map_id)
            reclaim = self.reclaims.get(map_id)
            if state is not None:
                self._commit(state, entries)
            elif reclaim is not None:
                self._store_commits(reclaim.id, reclaim.job_id, reclaim.results, entries)
                reclaim.progress(len(reclaim.results), reclaim.count)
                reclaim.accounted(commit.index for _, commit, _ in entries)
        for node_id, keys in arrivals.acks.items():
            node = self.nodes.get(node_id)
            if node is not None and node.send is not None:
                node.send(Ack.model_construct(results=keys))  # built here from checked values
        self._prune_leases(arrivals.touched)
        self.wake()

    def _lease_holding(self, node: NodeState, state: MapState, result: TaskResult) -> Lease | None:
        """The node's batch the result belongs to: the one of its leases holding the item."""
        for batch_id in node.leases:
            lease = self.leases.get(batch_id)
            if lease is not None and lease.map_id == state.id and result.index in lease.indices:
                return lease
        return None

    def _commit(self, state: MapState, entries: list[tuple[NodeState, Commit, float]]) -> None:
        failure = self._store_commits(state.id, state.job_id, state.results, entries)
        if failure is not None and not state.future.done():
            state.future.set_exception(ItemFailed(failure.index, failure.error or ""))
            return
        state.progress(len(state.results), state.count)
        self._check_complete(state)

    def _store_commits(
        self,
        map_id: str,
        job_id: str,
        results: dict[int, Json],
        entries: list[tuple[NodeState, Commit, float]],
    ) -> Commit | None:
        """Commit a map's results: those the store accepts go into `results` and count for
        their nodes. Returns the first failure accepted, if any."""
        accepted = set(self.store.commit(map_id, [commit for _, commit, _ in entries]))
        failure: Commit | None = None
        by_node = self.work.setdefault(job_id, {})
        for node, commit, seconds in entries:
            if commit.index not in accepted:
                continue
            accepted.discard(commit.index)  # the first of an item's commits is the stored one
            if commit.error is not None:
                failure = failure or commit
                continue
            results[commit.index] = commit.value
            node.done += 1
            work = by_node.setdefault(node.name, [0, 0.0])
            work[0] += 1
            work[1] += seconds
        return failure

    def _check_complete(self, state: MapState) -> None:
        if len(state.results) == state.count and not state.future.done():
            state.future.set_result([state.results[i] for i in range(state.count)])

    def _batch_finished(self, node: NodeState, message: BatchFinished) -> None:
        lease = self.leases.get(message.batch_id)
        if lease is None or lease.node_id != node.id:
            return
        if message.error:
            log.warning("batch %s failed on %s: %s", message.batch_id, node.name, message.error)
        state = self.maps.get(lease.map_id)
        if state is not None:
            state.schedule.batch_ended(lease.batch_id, self.clock.now())
        self._drop_lease(lease, cancel=False)
        self.wake()

    # --------------------------------------------------------------- leases

    def _cancel_lease(self, batch_id: str, reason: str) -> None:
        lease = self.leases.get(batch_id)
        if lease is not None:
            self._drop_lease(lease, cancel=True, reason=reason)

    def _drop_lease(self, lease: Lease, *, cancel: bool, reason: str = "no longer needed") -> None:
        self.leases.pop(lease.batch_id, None)
        node = self.nodes.get(lease.node_id)
        if node is None:
            return
        node.leases.discard(lease.batch_id)
        if cancel and node.send is not None:
            node.send(CancelBatch(batch_id=lease.batch_id, reason=reason))

    def _prune_leases(self, batch_ids: Iterable[str]) -> None:
        """Of these batches, those with every item answered: the node is done with them, and so
        is the schedule (it keeps a batch until told, and a node it thinks busy is given no
        duplicate)."""
        now = self.clock.now()
        for batch_id in batch_ids:
            lease = self.leases.get(batch_id)
            if lease is None or lease.indices:
                continue
            state = self.maps.get(lease.map_id)
            if state is not None:
                state.schedule.batch_ended(lease.batch_id, now)
            self._drop_lease(lease, cancel=False)

    def expire(self) -> None:
        """Lose nodes away too long, requeue expired batches, fail maps no node can run."""
        now = self.clock.now()
        for reclaim in self.reclaims.values():
            if now >= reclaim.deadline:
                reclaim.settle()
        for away in self.nodes.values():
            gone = away.away_since is not None and now - away.away_since >= self.grace_seconds
            if gone and not away.connected:
                away.away_since = None
                self._lose(away, now)
        changed = False
        for quiet in self.nodes.values():
            unheard = now - quiet.last_seen >= self.lease_seconds
            if unheard and quiet.connected and not quiet.silent and quiet.leases:
                self._silenced(quiet, now)
                changed = True
        for state in list(self.maps.values()):
            for batch_id in state.schedule.expire(now):
                lease = self.leases.get(batch_id)
                if lease is None:
                    continue
                node = self.nodes.get(lease.node_id)
                log.info(
                    "lease %s of %s expired (%d items back in the queue)",
                    batch_id,
                    node.name if node else lease.node_id,
                    len(lease.indices),
                )
                if node is not None and node.connected and not node.silent:
                    node.silent = True  # no new work until it is heard from again
                    changed = True
                self._drop_lease(lease, cancel=True, reason="lease expired")
        if changed:
            self._workers_changed()
        self._fail_unrunnable(now)

    def _silenced(self, node: NodeState, now: float) -> None:
        """No word from a connected node for a whole lease (frozen, or cut off): its leases
        expire; it gets no new work until it is heard from again, and then starts afresh."""
        log.info(
            "no word from %s for %g s: the lease of its %d batch(es) expired, their items "
            "go back in the queue",
            node.name,
            now - node.last_seen,
            len(node.leases),
        )
        node.silent = True
        for state in self.maps.values():
            for batch_id in state.schedule.node_lost(node.id, now):
                self._cancel_lease(batch_id, "lease expired")

    def _lose(self, node: NodeState, now: float) -> None:
        """The node stayed away past the grace period: its unfinished items go elsewhere."""
        for state in self.maps.values():
            for batch_id in state.schedule.node_lost(node.id, now):
                lease = self.leases.get(batch_id)
                if lease is not None:
                    log.info(
                        "%s is gone: %d items of %s back in the queue",
                        node.name,
                        len(lease.indices),
                        batch_id,
                    )
                    self._drop_lease(lease, cancel=False)
        self._workers_changed()

    def _fail_unrunnable(self, now: float) -> None:
        for state in list(self.maps.values()):
            if state.future.done() or state.schedule.done or state.job_id in self.held:
                state.waiting_since = None
                continue
            # A silent or drained node still counts: it may only be frozen or paused for a
            # while. If it is gone for good, its connection closes and it stops counting. A node
            # blocked from the job (it failed its items too often) does not: were every node
            # blocked, the map would wait for ever.
            if any(self._can_run(state, n) for n in self.nodes.values()):
                state.waiting_since = None
            elif state.waiting_since is None:
                state.waiting_since = now
            elif now - state.waiting_since >= self.no_node_seconds:
                state.future.set_exception(self._no_node(state))

    def _can_run(self, state: MapState, node: NodeState) -> bool:
        blocked = self.farm.blocklist.blocked(state.job_id, node.id, state.plugin)
        return node.connected and state.activity in node.activities and not blocked

    def _no_node(self, state: MapState) -> NoCompatibleNode:
        online = [n for n in self.nodes.values() if n.connected]
        able = sorted(n.name for n in online if state.activity in n.activities)
        if able:
            failure = ""
            if state.last_failure is not None:
                failure = f"; the last failure, item {state.last_failure[0]}: "
                failure += state.last_failure[1]
            return NoCompatibleNode(
                f"every connected node that can run {state.activity} failed it "
                f"{self.farm.blocklist.after} times in this job and is blocked from it "
                f"({', '.join(able)}){failure}"
            )
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

    def dispatch(self) -> None:
        """Ask the schedules for work for every node with a free slot, the node served longest
        ago first: otherwise the first node to connect would always ask first, and take back
        the item it just failed while other nodes stand idle."""
        now = self.clock.now()
        for node in sorted(self.nodes.values(), key=lambda n: n.served):
            if not self._usable(node):
                continue
            for state in list(self.maps.values()):
                if len(node.leases) >= node.slots + 1:  # one batch ahead hides the round trip
                    break
                if state.activity not in node.activities or state.job_id in self.held:
                    continue
                if state.future.done():
                    continue
                while len(node.leases) < node.slots + 1:
                    grant = state.schedule.request(Worker(node.id, node.slots), now)
                    if grant is None:
                        break
                    self._assign(node, state, grant)
                failure = state.schedule.failure
                if failure is not None and not state.future.done():
                    index, error = failure
                    state.future.set_exception(ItemFailed(state.todo[index], error))

    def _assign(self, node: NodeState, state: MapState, grant: Grant) -> None:
        indices = [state.todo[position] for position in grant.indices]
        if not grant.duplicate:  # a duplicate keeps the attempt, so that either copy counts
            for index in indices:
                state.attempts[index] = state.attempts.get(index, 0) + 1
            self.store.set_attempts(state.id, [(i, state.attempts[i]) for i in indices])
        self.leases[grant.batch_id] = Lease(
            grant.batch_id, state.id, node.id, set(indices), grant.duplicate
        )
        node.leases.add(grant.batch_id)
        self._granted += 1
        node.served = self._granted
        tasks = [  # built here from checked values: no need to validate them again
            TaskSpec.model_construct(
                map_id=state.id, index=i, attempt=state.attempts[i], args=list(state.items[i])
            )
            for i in indices
        ]
        assert node.send is not None
        node.send(
            Assign(
                batch_id=grant.batch_id,
                job_id=state.job_id,
                activity=state.activity,
                tasks=tasks,
                lease_seconds=grant.lease_seconds,
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
            await within(tick_seconds, self._wake.wait())
