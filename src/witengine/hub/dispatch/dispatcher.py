"""The dispatcher: carries out the scheduler's decisions over the nodes' connections.

It bridges the interpreter's maps, the scheduler (`witengine.scheduling`: who gets which items,
under which lease, duplicates near the end, blocklists) and the nodes' WebSockets. The policy is
the scheduler's; this package does the I/O the scheduler must not: it stores attempts and
results, sends batches and cancels, and tells the schedules what happened. This module is its
one door: the hub's routes and job service call it, and read the farm through `self.view`. The
parts are its own modules: node links (`links`), results (`results`), maps (`maps`), the state
they share (`state`) and the read model (`view`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from witengine.clock import Clock, wall_time
from witengine.hub.dispatch import links, maps, reclaims, results, trading, verifying
from witengine.hub.dispatch.links import Placement
from witengine.hub.dispatch.maps import Estimator, Requirer, no_requirements, uniform_estimate
from witengine.hub.dispatch.records import Comparer, Json, MapState, NodeLink, Send
from witengine.hub.dispatch.state import (
    DeliveryListener,
    DispatchState,
    DispatchTimes,
    able,
    admitted,
    trusted_with,
)
from witengine.hub.dispatch.verifying import ChangeListener, Verification
from witengine.hub.dispatch.view import FarmView
from witengine.hub.exchange.market import Market
from witengine.hub.rates import RateBook
from witengine.hub.store.base import RateRecord, ReputationRecord, Store
from witengine.hub.turns import ITEMS_PER_TURN, TURN_SECONDS
from witengine.protocol import Assign, NodeHello, NodeMessage, Results, TaskSpec
from witengine.runtime.executor import ItemFailed, MapRequest, Progress
from witengine.scheduling.core import Candidate, Grant
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.verification import Record, TrustState, VerificationSettings
from witengine.waiting import within

Committed = Callable[[Mapping[int, Json]], None]


def _remember_reputation(store: Store, checks: Verification) -> None:
    """Load the nodes' records kept before (a node caught wrong stays blocked across restarts),
    and keep each change of one in the store."""
    book = checks.verifier.book
    for kept in store.list_reputation():
        record = Record(
            TrustState(kept.state),
            kept.streak,
            kept.accepted,
            kept.rejected,
            kept.spot_passed,
            kept.spot_failed,
        )
        book.load(kept.node_id, kept.activity, record)
        if kept.spot_failed:
            book.ban(kept.node_id)

    def keep(node_id: str, activity: str, record: Record) -> None:
        store.put_reputation(
            ReputationRecord(
                node_id,
                activity,
                record.state.value,
                record.streak,
                record.accepted,
                record.rejected,
                record.spot_passed,
                record.spot_failed,
                wall_time(),
            )
        )

    checks.record_listeners.append(keep)


# Results are handled for about TURN_SECONDS in one turn of the event loop (each costs some
# 100 µs, checked, stored and acknowledged, more on a busy machine: the count a turn takes
# follows what the last turns cost), so that the API and the nodes wait no longer than that;
# at least MIN_RESULTS_PER_TURN, so that a turn's store transaction stays worth its cost.
MIN_RESULTS_PER_TURN = 20
RESULT_SECONDS = 100e-6  # a result's cost until one is measured


class Dispatcher:
    """Owns maps in flight, node links and batches; driven by the hub's loop."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        estimate: Estimator = uniform_estimate,
        requires: Requirer = no_requirements,
        scheduler: SchedulerSettings | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 5.0,
        grace_seconds: float = 5.0,
        no_node_seconds: float = 30.0,
        compare: Comparer | None = None,
        verification: VerificationSettings | None = None,
        seed: int | None = None,
        market: Market | None = None,
    ) -> None:
        """`verification`: how results of untrusted nodes are verified; `seed`: seeds its
        random choices (which results are checked, which batches carry a spot check), so a
        run repeats; `market`: the exchange, whose jobs that bid are traded (see `trading`)."""
        self._estimate = estimate
        self._requires = requires
        # Batch ids carry this run's prefix: a node's results from before a hub restart can
        # never be taken for a new batch's.
        settings = scheduler or SchedulerSettings(
            min_lease=lease_seconds, batch_prefix=f"batch_{uuid.uuid4().hex[:6]}"
        )
        times = DispatchTimes(lease_seconds, heartbeat_seconds, grace_seconds, no_node_seconds)
        checks = Verification.make(verification, seed)
        _remember_reputation(store, checks)
        self._state = DispatchState(store, clock, Scheduler(settings), times, compare, checks)
        checks.run_crop = self._run_crop
        self._crops = 0  # crops rendered: each is a map of its job, numbered below its own
        self._state.market = market
        self._random = random.Random(seed)
        # Benchmark rates, kept by the node routes; each new one seeds the scheduler's model.
        self.rates = RateBook(store)
        self.rates.subscribe(self._benchmarked)
        self.view = FarmView(self._state, self.rates)
        self._inbox: list[tuple[str, NodeMessage]] = []  # received, not yet handled
        self._result_seconds = RESULT_SECONDS  # what handling a result cost lately

    @property
    def market(self) -> Market | None:
        """The exchange whose jobs that bid it trades; None: a hub without one."""
        return self._state.market

    @property
    def times(self) -> DispatchTimes:
        return self._state.times

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler the dispatcher asks: its rate model and blocklists."""
        return self._state.scheduler

    # ------------------------------------------------------------------ maps

    async def run_map(
        self,
        job_id: str,
        seq: int,
        request: MapRequest,
        progress: Progress,
        committed: Committed | None = None,
    ) -> list[Json]:
        """Run every item of a map on nodes; results in input order. `committed`, when given,
        is called with the map's results by index (read-only: every one committed so far)
        each time some are committed, for a caller that passes them on as they come."""
        if not request.items:
            return []
        self._seed_rates(request.activity)
        held = await maps.open_map(
            self._state, job_id, seq, request, progress, self._estimate, self._requires
        )
        if committed is not None:
            results = held.results

            def told(done: int, total: int) -> None:
                progress(done, total)
                committed(results)

            held.progress = told
            committed(results)
        try:
            return await held.future
        finally:
            maps.close_map(self._state, held)

    async def _run_crop(self, job_id: str, activity: str, args: list[Json]) -> Json:
        """Run the activity once for the job on a trusted node (a crop that checks an untrusted
        node's render): a map of one item in the trusted pools only, numbered -1, -2, … so that
        it is never taken for one of the job's own maps."""
        self._crops += 1
        request = MapRequest(activity, [args], label=f"a trusted crop for {activity}")
        results = await self.run_map(job_id, -self._crops, request, lambda done, total: None)
        return results[0]

    def on_delivered(self, listener: DeliveryListener) -> None:
        """Call `listener(node_id, items, seconds)` after each commit of results, for each node
        whose results it stored: what the farm really delivered, as it is delivered."""
        self._state.delivery_listeners.append(listener)

    def on_trust_changed(self, listener: ChangeListener) -> None:
        """Call `listener(change)` whenever a node's trust state for an activity changes (it
        became reliable, was caught wrong): for the audit log."""
        self._state.verification.change_listeners.append(listener)

    def work_by_node(self, job_id: str) -> dict[str, list[float]]:
        """Items each node committed for a job since this hub started, and their seconds."""
        return {name: list(work) for name, work in self._state.work.get(job_id, {}).items()}

    # ------------------------------------------------------------------ jobs

    def cancel_job(self, job_id: str) -> None:
        """Stop dispatching a job's maps; their awaiting callers see CancelledError."""
        for held in [m for m in self._state.maps.values() if m.job_id == job_id]:
            if not held.future.done():
                held.future.cancel()
        reclaims.cancel(self._state, job_id)

    def pause_job(self, job_id: str) -> None:
        """A paused job: its maps get no new batches (those out on nodes finish)."""
        self._state.paused.add(job_id)

    def resume_job(self, job_id: str) -> None:
        self._state.paused.discard(job_id)
        self._state.wake()

    def pin_job(self, job_id: str, node_name: str) -> None:
        """Give the job's work to the node of this name only (it waits while that node is
        away, and fails as any map no node can run)."""
        self._state.pinned[job_id] = node_name
        self._state.candidates_changed()

    def job_ended(self, job_id: str) -> None:
        """Forget what only mattered while the job ran (its blocklist, its pause, its pin)."""
        self._state.paused.discard(job_id)
        self._state.pinned.pop(job_id, None)
        self._state.scheduler.job_ended(job_id)
        if self._state.market is not None:
            self._state.market.job_ended(job_id)

    # ----------------------------------------------------------------- rates

    def _benchmarked(self, record: RateRecord) -> None:
        with contextlib.suppress(ValueError):  # a zero rate says nothing to plan with
            self._state.scheduler.rates.benchmark(record.node_id, record.activity, record.rate)

    def _seed_rates(self, activity: str) -> None:
        """Benchmarks the scheduler has not met yet (stored before this hub started, say)."""
        model = self._state.scheduler.rates
        for node_id, rate in self.rates.rates_for(activity).items():
            if not model.known(node_id, activity) and rate > 0:
                model.benchmark(node_id, activity, rate)

    # ----------------------------------------------------------------- nodes

    def connect(self, hello: NodeHello, send: Send, placement: Placement | None = None) -> str:
        """Register a node's connection; it carries on with the batches it still holds.
        `placement`: its pool and owner (None: the default pool, its own owner)."""
        return links.connect(self._state, hello, send, placement)

    def place(self, node_id: str, placement: Placement) -> None:
        """A node moved to another pool, or given another owner: its maps change with it."""
        links.place(self._state, node_id, placement)

    def retier(self, pool: str, trusted: bool) -> None:
        """A pool's tier changed: its connected nodes are trusted, or not, from now on."""
        links.retier(self._state, pool, trusted)

    def disconnect(self, node_id: str, *, leaving: bool = False) -> None:
        """The node's connection closed: it is lost unless it is back within the grace period;
        at once when it said it is leaving (it stopped its work)."""
        links.disconnect(self._state, node_id, leaving=leaving)

    def forget(self, node_id: str) -> None:
        """A node that is not connected leaves the farm for good (see `links.forget`)."""
        links.forget(self._state, node_id)
        self.rates.node_forgotten(node_id)

    def drain(self, node_id: str, drained: bool = True) -> bool:
        """A drained node finishes the batches it holds and is given no new ones; undrained, it
        gets work again. False when no node of that id has connected."""
        if node_id not in self._state.nodes:
            return False
        if drained:
            self._state.drained.add(node_id)
        else:
            self._state.drained.discard(node_id)
        self._state.wake()
        return True

    def node_holds_blob(self, node_id: str, sha256: str) -> bool:
        """Whether a batch leased to the node names the blob among its items' arguments."""
        holds = links.holds_blob(self._state, node_id, sha256)
        if holds and self._state.market is not None:
            trading.fetched(self._state, node_id, sha256)
        return holds

    def receive(self, node_id: str, message: NodeMessage) -> None:
        """A message from a node, handled with every other that arrives in the same turn of the
        event loop: a farm's results then cost one store transaction per map, not one per
        message, and each is still stored before it is acknowledged. About `TURN_SECONDS` of
        results are handled in a turn; the rest (a hub short of CPU gets thousands at once)
        in the next ones, the API and the nodes answered in between."""
        self._inbox.append((node_id, message))
        if len(self._inbox) == 1:
            asyncio.get_running_loop().call_soon(self._handle_inbox)

    def _handle_inbox(self) -> None:
        most = max(MIN_RESULTS_PER_TURN, int(TURN_SECONDS / self._result_seconds))
        taken = results = 0
        while taken < len(self._inbox) and results < most:
            message = self._inbox[taken][1]
            results += len(message.results) if isinstance(message, Results) else 1
            taken += 1
        inbox, self._inbox = self._inbox[:taken], self._inbox[taken:]
        if self._inbox:
            asyncio.get_running_loop().call_soon(self._handle_inbox)
        started = time.perf_counter()
        self.handle_many(inbox)
        if results:
            each = (time.perf_counter() - started) / results
            self._result_seconds = 0.7 * self._result_seconds + 0.3 * each

    def handle(self, node_id: str, message: NodeMessage) -> None:
        """A message from a node, handled at once."""
        self.handle_many([(node_id, message)])

    def handle_many(self, messages: Sequence[tuple[str, NodeMessage]]) -> None:
        """Messages from nodes, in the order they arrived (see `results.handle_many`)."""
        results.handle_many(self._state, messages)

    # ------------------------------------------------------------- the tick

    def expire(self) -> None:
        """Lose nodes away too long, requeue expired batches, fail maps no node can run."""
        now = self._state.clock.now()
        reclaims.settle_expired(self._state, now)
        silenced = links.check_nodes(self._state, now)
        silenced = maps.expire_leases(self._state, now) or silenced
        if silenced:
            self._state.candidates_changed()
        maps.fail_unrunnable(self._state, now)
        if self._state.market is not None:
            trading.refresh(self._state)

    def dispatch(self, max_items: int | None = None) -> bool:
        """Ask the schedules for work for every node with a free slot, the node served longest
        ago first: otherwise the first node to connect would always ask first, and take back
        the item it just failed while other nodes stand idle.

        Stops once `max_items` items are handed out, or after about `TURN_SECONDS` (when
        `max_items` is given), and then says True: the loop turns before the others are (a new
        map's first round to hundreds of nodes is tens of thousands)."""
        state = self._state
        now = state.clock.now()
        handed = 0
        until = None if max_items is None else time.perf_counter() + TURN_SECONDS
        for node in sorted(state.nodes.values(), key=lambda n: n.served):
            if not state.usable(node):
                continue
            for held in trading.in_turn(state):  # fair share between the exchange's buyers
                if len(node.leases) >= node.slots + 1:  # one batch ahead hides the round trip
                    break
                if not able(node, held.activity, held.requirements) or held.job_id in state.paused:
                    continue
                if not admitted(node, held.pools):  # not among the pools the job may use
                    continue
                if state.pinned_away(held.job_id, node) or not trusted_with(
                    state, node, held.activity
                ):
                    continue
                # A paid map's: not when its owner's ask is above the bid, or cheaper nodes do.
                if held.future.done() or not trading.open_to(held, node.id):
                    continue
                asking = Candidate(node.id, node.slots, owner=node.owner_key, trusted=node.trusted)
                # (A paid map closes to the node as its buyer's mandate's budget is reached.)
                while len(node.leases) < node.slots + 1 and trading.open_to(held, node.id):
                    if until is not None and handed and time.perf_counter() > until:
                        return True
                    if max_items is not None and handed >= max_items:
                        return True
                    grant = held.schedule.request(asking, now)
                    if grant is None:
                        break
                    self._assign(node, held, grant)
                    handed += len(grant.indices)
                failure = held.schedule.failure
                if failure is not None and not held.future.done():
                    index, error = failure
                    held.future.set_exception(ItemFailed(held.todo[index], error))
        return False

    def _assign(self, node: NodeLink, held: MapState, grant: Grant) -> None:
        state = self._state
        indices = [held.todo[position] for position in grant.indices]
        if not grant.duplicate:  # a duplicate keeps the attempt, so that either copy counts
            for index in indices:
                held.attempts[index] = held.attempts.get(index, 0) + 1
            state.store.set_attempts(held.id, [(i, held.attempts[i]) for i in indices])
        spot = verifying.spot_check(state, node, held)
        if spot is not None:  # an item whose answer is known, among the others, unannounced
            indices.insert(self._random.randrange(len(indices) + 1), spot)
        state.add_lease(grant.batch_id, held.id, node, set(indices), grant.duplicate)
        if held.paid is not None:
            trading.assigned(state, node, held, grant.batch_id, indices)
        attempts, items = held.attempts, held.items
        tasks = [TaskSpec(held.id, i, attempts[i], list(items[i])) for i in indices]
        assert node.send is not None
        node.send(
            Assign.model_construct(  # built here from checked values: nothing to check again
                batch_id=grant.batch_id,
                job_id=held.job_id,
                activity=held.activity,
                tasks=tasks,
                lease_seconds=grant.lease_seconds,
            )
        )

    def wake(self) -> None:
        self._state.wake()

    async def run(self, tick_seconds: float = 0.25) -> None:
        """Dispatch when woken, and check leases every tick; runs until cancelled."""
        while True:
            self.expire()
            if self.dispatch(ITEMS_PER_TURN):
                await asyncio.sleep(0)  # more to hand out, after the API and the nodes
                continue
            self._state.slept()
            await within(tick_seconds, self._state.woken())
