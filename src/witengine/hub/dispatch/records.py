"""What the dispatcher keeps of the farm while maps run: each node's link and the batches it
holds (leases), each map's items, attempts and results, the maps resumed after a restart that
wait for what nodes kept, and what one round of node messages brought. Plain records, private
to the `witengine.hub.dispatch` package: its modules change them, everyone else reads them
through `FarmView`."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from witengine.hub.store.base import Commit
from witengine.jsontext import canonical
from witengine.plugins.requirements import Requirements
from witengine.protocol import Capabilities, HubMessage
from witengine.protocol.states import Availability
from witengine.runtime.comparisons import TrustedCrop
from witengine.runtime.executor import Progress
from witengine.scheduling.core import Candidate, MapSchedule
from witengine.scheduling.cropping import Crop

if TYPE_CHECKING:
    from witengine.hub.dispatch.trading import PaidMap

Json = Any
Send = Callable[[HubMessage], None]


class Comparer(Protocol):
    """How the hub tells whether two nodes' results for one item agree: each activity's plugin
    declares it (exact equality for computed values, images within a tolerance for renders). An
    activity it cannot compare cannot run on untrusted nodes: their results must be verified."""

    def can_compare(self, activity: str) -> bool: ...

    async def agree(self, activity: str, first: Json, second: Json) -> bool: ...

    def crop_check(self, activity: str) -> TrustedCrop | None:
        """How an expensive item's result is checked by a trusted render of a crop of it."""
        ...

    async def crop_agrees(self, activity: str, frame: Json, crop: Json, box: Crop) -> bool: ...

    async def image_size(self, result: Json) -> tuple[int, int] | None: ...


class ExactComparer:
    """Results agree when they are the same JSON value: what a deterministic computation gives."""

    def can_compare(self, activity: str) -> bool:
        return True

    async def agree(self, activity: str, first: Json, second: Json) -> bool:
        return bool(canonical(first) == canonical(second))

    def crop_check(self, activity: str) -> TrustedCrop | None:
        return None

    async def crop_agrees(self, activity: str, frame: Json, crop: Json, box: Crop) -> bool:
        raise NotImplementedError("exact results are never checked by a crop")

    async def image_size(self, result: Json) -> tuple[int, int] | None:
        return None


def mentions(value: Json, text: str) -> bool:
    """Whether a JSON value holds the string `text` anywhere (a blob's digest in arguments)."""
    if isinstance(value, str):
        return value == text
    if isinstance(value, dict):
        return any(mentions(v, text) for v in value.values())
    if isinstance(value, list | tuple):
        return any(mentions(v, text) for v in value)
    return False


@dataclass
class Lease:
    """A batch out on a node: the items of it that have no result yet."""

    batch_id: str
    map_id: str
    node_id: str
    indices: set[int]
    duplicate: bool = False


@dataclass
class NodeLink:
    """A node as the dispatcher knows it: its connection, its batches, what it has done."""

    id: str
    name: str
    slots: int
    activities: frozenset[str]
    send: Send | None  # None while disconnected
    leases: set[str] = field(default_factory=set)
    done: int = 0
    last_seen: float = 0.0
    away_since: float | None = None  # when its connection closed
    silent: bool = False  # its lease ran out: no new work until it is heard from again
    served: int = 0  # when it was last given a batch (a count of batches): it asks after others
    # Batches leased before it reconnected that its hello did not name: if its first heartbeat
    # does not name them either, it no longer has them (it restarted) and they go back.
    unclaimed: set[str] = field(default_factory=set)
    # What its owner policy lets it do, as it last reported (`NodeStatus`): only an available
    # node is given work; a suspended one keeps its leases (its heartbeats go on).
    availability: Availability = Availability.AVAILABLE
    reason: str = ""  # why, in words ("" when simply available)
    window_end: float | None = None  # hub-clock time its current window closes; None: no end
    policy: dict[str, str] = field(default_factory=dict)  # setting -> value, for people
    week: tuple[float, ...] = ()  # the share of each hour of the week its windows allow
    suspended_at: float | None = None  # hub-clock time it was last known suspended; None: never
    # What its probe found (its software, for the maps whose items need a tool); None: unknown.
    capabilities: Capabilities | None = None
    # Activities of its plugins it cannot run, and what it lacks for each, as it said.
    unmet: dict[str, list[str]] = field(default_factory=dict)
    # Trust (see docs/security.md): the pool it belongs to, whether that pool's tier is trusted
    # (its results are committed as they come) or untrusted (verified first), and its owner:
    # replicas of an item go to nodes of other owners. "" owner: the node is its own.
    pool: str = "default"
    trusted: bool = True
    owner: str = ""
    # Whether it signs its paid results with its owner's account key (its hello says), and
    # whether it may still sell: not once the hub refused its results for a bad receipt.
    receipts: bool = False
    sells: bool = True

    @property
    def owner_key(self) -> str:
        """Who answers for its results: its owner, or the node itself when it has none."""
        return self.owner or f"node:{self.id}"

    @property
    def connected(self) -> bool:
        return self.send is not None


@dataclass
class Arrivals:
    """What one round of node messages brought: results to commit together (one transaction per
    map), the keys to acknowledge to each node once they are stored, and the leases they
    touched."""

    commits: dict[str, list[tuple[NodeLink, Commit, float]]] = field(default_factory=dict)
    acks: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


@dataclass
class MapState:
    id: str
    job_id: str
    activity: str
    items: Sequence[Sequence[Json]]
    attempts: dict[int, int]
    results: dict[int, Json]
    progress: Progress
    future: asyncio.Future[list[Json]]
    schedule: MapSchedule
    todo: list[int]  # the schedule's item i is the map's item todo[i]
    candidates: tuple[Candidate, ...] = ()  # the nodes the schedule was last told can run it
    positions: dict[int, int] = field(default_factory=dict)  # the map's item -> the schedule's
    waiting_since: float | None = None  # when it began to lack any node that can run it
    plugin: str = ""  # the activity's plugin: what a blocklist blocks
    last_failure: tuple[int, str] | None = None  # the last item that failed a try, and why
    # What its items need of a node beyond its activity (a tool they name): asked of the
    # activity per item when the map opened; None: nothing more.
    requirements: Requirements | None = None
    # The pools whose nodes may run it (the job's choice); None: the trusted pools only.
    pools: frozenset[str] | None = None
    # Its trading on the exchange, when its job bid (see `trading`); None: an unpaid map.
    paid: PaidMap | None = None
    work: Sequence[float] = ()  # the schedule's item i's estimate, in the activity's unit

    @property
    def count(self) -> int:
        return len(self.items)


@dataclass
class Reclaim:
    """A map resumed after a hub restart, before it is scheduled: the items that were out on
    nodes at the crash wait until `deadline` for their nodes to come back and deliver what they
    finished meanwhile (or say they no longer hold it), so that nothing done is run again."""

    id: str
    job_id: str
    count: int
    results: dict[int, Json]  # the map's committed results: the MapState's to be
    progress: Progress
    out: dict[int, int]  # index -> attempt: given out before the restart, no result then
    deadline: float
    settled: asyncio.Future[None]
    waiting: set[int] = field(default_factory=set)  # of those, the ones not accounted for yet

    def __post_init__(self) -> None:
        self.waiting = set(self.out)

    def takes(self, index: int, attempt: int) -> bool:
        """Whether a result for this item and attempt is one to commit."""
        return self.out.get(index) == attempt and index not in self.results

    def accounted(self, indices: Iterable[int]) -> None:
        """These items came back or will not: once none is left to wait for, the map goes on."""
        self.waiting.difference_update(indices)
        if not self.waiting:
            self.settle()

    def settle(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)


class MapDigest:
    """Identifies a map's work: the activity and every item's arguments, added in order (a
    slice at a time, if need be)."""

    def __init__(self, activity: str) -> None:
        self._sha256 = hashlib.sha256(activity.encode())

    def add(self, items: Iterable[Sequence[Json]]) -> None:
        self._sha256.update("".join(canonical(item) + "\n" for item in items).encode())

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()
