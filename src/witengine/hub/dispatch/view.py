"""The farm as everyone outside the dispatcher reads it: one read model.

The node routes (`GET /nodes`, what `wit nodes` shows), the dashboard and its watch read the
dispatcher's live state only through `FarmView`; none of them sees its records. A node's state
is decided here, in `node_state`, from the facts `NodeFacts` gathers: a new state (an owner at
the keyboard, outside its hours, waiting for approval) is a new fact and a new line there, and a
new member of `NodeState`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from witengine.hub.dispatch import maps, trading
from witengine.hub.dispatch.state import DispatchState
from witengine.hub.rates import RateBook
from witengine.hub.store.base import RateRecord
from witengine.protocol.states import Availability, NodeState
from witengine.scheduling.verification import Record
from witengine.scheduling.verifier import VerificationCosts


@dataclass(frozen=True)
class NodeFacts:
    """What the hub knows of a node right now, from which its state follows."""

    connected: bool = False
    drained: bool = False
    silent: bool = False  # not heard from for a whole lease
    running: int = 0  # items of its batches without a result yet
    availability: Availability = Availability.AVAILABLE  # what its owner policy lets it do
    reason: str = ""  # why, as the node said


def node_state(facts: NodeFacts) -> NodeState:
    """The one place a node's state is decided."""
    if not facts.connected:
        return NodeState.OFFLINE
    if facts.drained:
        return NodeState.DRAINING if facts.running else NodeState.DRAINED
    if facts.silent:
        return NodeState.UNRESPONSIVE
    if facts.availability is Availability.SUSPENDED:
        return NodeState.SUSPENDED
    if facts.availability is Availability.UNAVAILABLE:
        return NodeState.UNAVAILABLE
    return NodeState.BUSY if facts.running else NodeState.IDLE


def state_reason(facts: NodeFacts) -> str:
    """Why the node is in its state, in words, when its owner policy put it there; else ""."""
    owned = node_state(facts) in (NodeState.SUSPENDED, NodeState.UNAVAILABLE)
    return facts.reason if owned else ""


@dataclass(frozen=True)
class MapInfo:
    """A map in flight: its job, activity, size and the items committed so far."""

    job_id: str
    activity: str
    count: int
    committed: frozenset[int]


class FarmView:
    """Read-only questions about the farm's nodes, maps and batches, answered live."""

    def __init__(self, state: DispatchState, rates: RateBook) -> None:
        self._state = state
        self._rates = rates

    # ----------------------------------------------------------------- nodes

    def facts(self, node_id: str) -> NodeFacts:
        node = self._state.nodes.get(node_id)
        if node is None:
            return NodeFacts()
        return NodeFacts(
            connected=node.connected,
            drained=node_id in self._state.drained,
            silent=node.silent,
            running=self._state.running_items(node),
            availability=node.availability,
            reason=node.reason,
        )

    def node_state(self, node_id: str) -> NodeState:
        return node_state(self.facts(node_id))

    def node_reason(self, node_id: str) -> str:
        """Why the node is in its state, when its owner policy says (suspended, unavailable)."""
        return state_reason(self.facts(node_id))

    def policy(self, node_id: str) -> dict[str, str]:
        """The node's owner policy as it reported it (setting -> value); empty: it has none."""
        node = self._state.nodes.get(node_id)
        return dict(node.policy) if node else {}

    def week(self, node_id: str) -> tuple[float, ...]:
        """The share of each hour of the week (Monday 00:00 UTC first) its windows allow;
        empty: no policy, always available."""
        node = self._state.nodes.get(node_id)
        return node.week if node else ()

    def window_seconds(self, node_id: str) -> float | None:
        """Seconds until the node's current window of work closes; None: no end reported."""
        node = self._state.nodes.get(node_id)
        if node is None or node.window_end is None:
            return None
        return max(0.0, node.window_end - self._state.clock.now())

    def suspended_at(self, node_id: str) -> float | None:
        """Hub-clock seconds when the node was last known suspended; None: never."""
        node = self._state.nodes.get(node_id)
        return node.suspended_at if node else None

    def known(self, node_id: str) -> bool:
        """Whether the node has connected since the hub started."""
        return node_id in self._state.nodes

    def node_name(self, node_id: str) -> str:
        node = self._state.nodes.get(node_id)
        return node.name if node else node_id

    def node_connected(self, node_id: str) -> bool:
        node = self._state.nodes.get(node_id)
        return node is not None and node.connected

    def drained(self, node_id: str) -> bool:
        return node_id in self._state.drained

    def running_items(self, node_id: str) -> int:
        node = self._state.nodes.get(node_id)
        return self._state.running_items(node) if node else 0

    def done(self, node_id: str) -> int:
        """Items the node committed since the hub started."""
        node = self._state.nodes.get(node_id)
        return node.done if node else 0

    def batches(self, node_id: str) -> frozenset[str]:
        """The batches out on the node."""
        node = self._state.nodes.get(node_id)
        return frozenset(node.leases) if node else frozenset()

    def benchmarks(self, node_id: str) -> list[RateRecord]:
        return self._rates.of_node(node_id)

    def blocked(self, node_id: str) -> list[tuple[str, str]]:
        """The (job, plugin) pairs the node is blocked from."""
        return self._state.scheduler.blocklist.of_node(node_id)

    def trust(self, node_id: str, activity: str) -> Record:
        """The node's record for the activity from the verification of its results (a trusted
        node's is always new and empty: its results are not verified)."""
        return self._state.verification.verifier.book.record(node_id, activity)

    def reputation(self, node_id: str) -> list[tuple[str, Record]]:
        """The node's records, by activity, from the verification of its results (none for a
        node whose results were never verified)."""
        records = self._state.verification.verifier.book.records()
        mine = [(activity, r) for (node, activity), r in records.items() if node == node_id]
        return sorted(mine, key=lambda pair: pair[0])

    def held_for_verification(self) -> tuple[int, int]:
        """Items whose answers are being verified, and results held unchecked (a reliable
        node's, until a check of its work agrees or its map has nothing else to wait for)."""
        return self._state.verification.verifier.held()

    def verification_costs(self) -> VerificationCosts:
        """What verifying untrusted nodes' results has cost since the hub started."""
        return replace(self._state.verification.verifier.costs)

    # ------------------------------------------------------------ maps, batches

    def map_info(self, map_id: str) -> MapInfo | None:
        """A map in flight, or None."""
        held = self._state.maps.get(map_id)
        if held is None:
            return None
        return MapInfo(held.job_id, held.activity, held.count, frozenset(held.results))

    def lease_alive(self, batch_id: str) -> bool:
        """Whether the batch is still out on its node."""
        return batch_id in self._state.leases

    def in_flight(self) -> tuple[int, int]:
        """Maps in flight and batches out on nodes."""
        return len(self._state.maps), len(self._state.leases)

    def waiting_for_kept(self) -> int:
        """Maps resumed after a restart that still wait for what their nodes kept."""
        return len(self._state.reclaims)

    def waiting(self, job_id: str) -> str | None:
        """Why a job that bid on the exchange gets no node now (see `trading.waiting`)."""
        if self._state.market is None:
            return None
        return trading.waiting(self._state, job_id)

    def remaining_seconds(self, job_id: str) -> float | None:
        """Seconds the job's open maps still need, by the rate model (see `maps`)."""
        return maps.remaining_seconds(self._state, job_id)
