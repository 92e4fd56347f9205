"""The dispatcher's state: every node link, map in flight and lease, in one object.

Private to the `witengine.hub.dispatch` package. Its modules (links, leases, results, the
dispatcher itself) change it through the few operations here that keep its parts consistent (a
lease dropped from the table is dropped from its node too; a schedule hears when the nodes able
to run its map change); everyone else reads it through `FarmView`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from witengine.clock import Clock
from witengine.errors import NoCompatibleNode
from witengine.hub.dispatch import trading
from witengine.hub.dispatch.records import (
    Comparer,
    ExactComparer,
    Lease,
    MapState,
    NodeLink,
    Reclaim,
)
from witengine.hub.dispatch.verifying import Verification
from witengine.hub.exchange.market import Market
from witengine.hub.store.base import Store
from witengine.plugins.requirements import Requirements, unmet
from witengine.protocol import CancelBatch
from witengine.protocol.states import Availability
from witengine.scheduling.core import Candidate
from witengine.scheduling.scheduler import Scheduler

# Told, after each commit, what one node delivered in it: (node id, items, seconds they took).
DeliveryListener = Callable[[str, int, float], None]


@dataclass(frozen=True)
class DispatchTimes:
    """How long the dispatcher waits, in seconds, before it decides a node or map is stuck."""

    lease: float = 30.0  # a batch's shortest lease: no word for that long and it expires
    heartbeat: float = 5.0  # how often nodes say they are alive
    grace: float = 5.0  # a node whose link closed keeps its batches this long
    no_node: float = 30.0  # a map that no connected node can run fails after this


def able(node: NodeLink, activity: str, requirements: Requirements | None) -> bool:
    """Whether the node offers the activity and has what a map's items need besides (a node
    whose capabilities are unknown has nothing)."""
    if activity not in node.activities:
        return False
    if not requirements:
        return True
    return node.capabilities is not None and not unmet(requirements, node.capabilities)


def trusted_with(state: DispatchState, node: NodeLink, activity: str) -> bool:
    """Whether the node may run the activity as far as trust goes: a trusted node always; an
    untrusted one when its results can be compared (the activity has a comparer) and it has not
    been caught wrong at it."""
    if node.trusted:
        return True
    if not state.compare.can_compare(activity):
        return False
    return not state.verification.verifier.book.blocked(node.id, activity)


def admitted(node: NodeLink, pools: frozenset[str] | None) -> bool:
    """Whether a map that may use `pools` may use the node: one of those pools, or with none
    named, a trusted pool (so that no job runs on untrusted nodes unless it says so)."""
    return node.trusted if pools is None else node.pool in pools


class DispatchState:
    """Nodes, maps and leases, and the operations that keep them consistent with each other."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler: Scheduler,
        times: DispatchTimes,
        compare: Comparer | None = None,
        verification: Verification | None = None,
    ) -> None:
        self.store = store
        self.compare: Comparer = compare or ExactComparer()  # do two results of an item agree
        # Untrusted nodes' results held until verified, and every node's trust record.
        self.verification = verification or Verification.make(None, None)
        self.clock = clock
        self.scheduler = scheduler
        self.times = times
        self.maps: dict[str, MapState] = {}
        self.started = clock.now()  # a map resumed after a restart waits for nodes from here
        self.reclaims: dict[str, Reclaim] = {}  # resumed maps waiting for what nodes kept
        self.nodes: dict[str, NodeLink] = {}
        self.leases: dict[str, Lease] = {}
        # job -> node name -> [items committed, seconds they took]: who did how much
        self.work: dict[str, dict[str, list[float]]] = {}
        self.delivery_listeners: list[DeliveryListener] = []
        self.drained: set[str] = set()  # nodes that finish what they hold and get no more
        self.paused: set[str] = set()  # jobs whose maps get no new batches
        self.pinned: dict[str, str] = {}  # job -> the one node (by name) its work may go to
        self.granted = 0  # batches sent since this hub started
        self.market: Market | None = None  # the exchange, for jobs that bid (see `trading`)
        self._wake = asyncio.Event()
        # While > 0, a change of able nodes is noted and told once at the end (see `deferred`).
        self._deferring = 0
        self._changed = False

    # ------------------------------------------------------------------ the loop

    def wake(self) -> None:
        """Something changed that may let a node be given work: dispatch soon."""
        self._wake.set()

    async def woken(self) -> None:
        await self._wake.wait()

    def slept(self) -> None:
        self._wake.clear()

    # ----------------------------------------------------------------- nodes

    def usable(self, node: NodeLink) -> bool:
        """Whether the node may be given new batches (its owner policy lets it, too)."""
        return (
            node.connected
            and not node.silent
            and node.id not in self.drained
            and node.availability is Availability.AVAILABLE
        )

    def pinned_away(self, job_id: str, node: NodeLink) -> bool:
        """Whether the job is pinned to another node than this one (`wit take --node`)."""
        pinned = self.pinned.get(job_id)
        return pinned is not None and pinned != node.name

    def candidates(
        self,
        activity: str,
        job_id: str,
        requirements: Requirements | None = None,
        pools: frozenset[str] | None = None,
    ) -> tuple[Candidate, ...]:
        """The nodes that may be given a map's work now, each with when its window closes and
        when it was last suspended (hub time): no batch is planned past the one, and a node
        whose owner came back is planned as slow until it has delivered again.
        `requirements`: what the map's items need of a node beyond the activity (see `able`);
        `pools`: the pools whose nodes it may use (see `admitted`)."""
        if job_id in self.paused:
            return ()
        return tuple(
            Candidate(
                node.id,
                node.slots,
                node.window_end,
                node.suspended_at,
                owner=node.owner_key,
                trusted=node.trusted,
            )
            for node in self.nodes.values()
            if self.usable(node)
            and able(node, activity, requirements)
            and admitted(node, pools)
            and trusted_with(self, node, activity)
            and not self.pinned_away(job_id, node)
        )

    def map_pools(self, names: Sequence[str] | None) -> frozenset[str] | None:
        """The pools a map may use, as its job named them (None: the trusted pools only);
        NoCompatibleNode naming a pool the hub does not have."""
        if names is None:
            return None
        unknown = sorted({name for name in names if self.store.get_pool(name) is None})
        if unknown:
            known = ", ".join(pool.name for pool in self.store.list_pools())
            missing = ", ".join(repr(name) for name in unknown)
            raise NoCompatibleNode(
                f"the job names pool(s) {missing}, which the hub does not have (pools: {known})"
            )
        return frozenset(names)

    def candidates_changed(self) -> None:
        """Tell each schedule whose able nodes changed which can run it now."""
        if self._deferring:
            self._changed = True
            return
        now = self.clock.now()
        for state in self.maps.values():
            candidates = self.candidates(
                state.activity, state.job_id, state.requirements, state.pools
            )
            if state.paid is not None:
                candidates = trading.narrow(self, state, candidates)
            if candidates != state.candidates:
                state.candidates = candidates
                state.schedule.candidates_changed(candidates, now)
        self.wake()

    @contextmanager
    def changes_told_once(self) -> Iterator[None]:
        """Within: changes of the nodes able to run maps are told to the schedules once, at the
        end (a turn's messages from hundreds of nodes whose owners come and go told them once
        per message, each a pass over every node for every map)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring and self._changed:
                self._changed = False
                self.candidates_changed()

    # ---------------------------------------------------------------- leases

    def add_lease(
        self, batch_id: str, map_id: str, node: NodeLink, indices: set[int], duplicate: bool
    ) -> None:
        """A batch goes out to the node under a lease."""
        self.leases[batch_id] = Lease(batch_id, map_id, node.id, indices, duplicate)
        node.leases.add(batch_id)
        self.granted += 1
        node.served = self.granted  # it asks after the nodes served before it

    def drop_lease(self, lease: Lease, *, cancel: bool, reason: str = "no longer needed") -> None:
        """The batch is no longer out: off the table and its node; `cancel` tells the node."""
        self.leases.pop(lease.batch_id, None)
        if self.market is not None:
            trading.lease_ended(self, lease, reason if cancel else "the node is done with it")
        node = self.nodes.get(lease.node_id)
        if node is None:
            return
        node.leases.discard(lease.batch_id)
        if cancel and node.send is not None:
            node.send(CancelBatch(batch_id=lease.batch_id, reason=reason))

    def cancel_lease(self, batch_id: str, reason: str) -> None:
        lease = self.leases.get(batch_id)
        if lease is not None:
            self.drop_lease(lease, cancel=True, reason=reason)

    def end_batch(self, lease: Lease, now: float) -> None:
        """The node is done with the batch, and so is its map's schedule."""
        state = self.maps.get(lease.map_id)
        if state is not None:
            state.schedule.batch_ended(lease.batch_id, now)
        self.drop_lease(lease, cancel=False)

    def running_items(self, node: NodeLink) -> int:
        """Items of the node's batches that have no result yet."""
        return sum(len(self.leases[b].indices) for b in node.leases if b in self.leases)
