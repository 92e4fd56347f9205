"""Node links: a node connects, is heard from, falls silent, goes away, comes back or is lost.

What the dispatcher decides itself is when a node counts as gone:
- a node whose connection closed keeps its batches for the grace period; back within that time
  (it goes on working while away) it simply carries on; otherwise the schedules hear it is lost
  and put its unfinished items back; a node that said it is leaving is lost at once;
- a node unheard for a whole lease (frozen, or cut off) has its batches expire and gets no new
  work until it is heard from again;
- a node that comes back without batches it held (it restarted) gives them back at its first
  heartbeat, not when their lease runs out.

A node with an owner policy reports its availability (`NodeStatus`, in its hello and whenever it
changes): only an available node is given work. A suspended node's batches are frozen on it, not
lost: its agent still heartbeats them, so their leases stay alive until it resumes or vacates.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from witengine.hub.dispatch import reclaims, trading
from witengine.hub.dispatch.records import NodeLink, Send, mentions
from witengine.hub.dispatch.state import DispatchState
from witengine.protocol import CancelBatch, Heartbeat, NodeHello, NodeStatus
from witengine.protocol.states import DEFAULT_POOL, Availability

log = logging.getLogger(__name__)
# Seconds a node's window end may seem to move and still be the same end: a node reports the
# seconds left, which arrive a little later each time.
WINDOW_SLACK = 5.0


@dataclass(frozen=True)
class Placement:
    """Where a node stands in trust: its pool, whether that pool is trusted, and its owner
    ("": the node is its own owner)."""

    pool: str = DEFAULT_POOL
    trusted: bool = True
    owner: str = ""


def connect(
    state: DispatchState, hello: NodeHello, send: Send, placement: Placement | None = None
) -> str:
    """Register a node's connection; it carries on with the batches it still holds.
    `placement`: its pool and owner as the hub keeps them (None: the default pool)."""
    placement = placement or Placement()
    node_id = hello.node_id or f"node_{uuid.uuid4().hex[:12]}"
    previous = state.nodes.get(node_id)
    node = NodeLink(
        node_id,
        hello.name,
        hello.slots,
        frozenset(hello.activities),
        send,
        leases=previous.leases if previous else set(),
        done=previous.done if previous else 0,
        served=previous.served if previous else 0,
        last_seen=state.clock.now(),
        unclaimed=previous.leases - set(hello.holding) if previous else set(),
        suspended_at=previous.suspended_at if previous else None,
        capabilities=hello.capabilities,
        unmet=hello.unmet,
        pool=placement.pool,
        trusted=placement.trusted,
        owner=placement.owner,
        receipts=hello.receipts,
    )
    _take_status(state, node, hello.status)
    state.nodes[node_id] = node
    for batch_id in hello.holding:
        lease = state.leases.get(batch_id)
        if lease is None or lease.node_id != node_id:
            # Given up on while it was away (or before a hub restart): its items run again
            # elsewhere, so the node may stop; whatever it sends of it is acknowledged.
            send(CancelBatch(batch_id=batch_id, reason="given to other nodes meanwhile"))
            reclaims.not_coming(state, hello.holding[batch_id])
    state.candidates_changed()
    return node_id


def place(state: DispatchState, node_id: str, placement: Placement) -> None:
    """An admin moved a node to another pool or gave it another owner: the maps whose pools
    it left stop giving it work (what it holds it finishes), those it joined start."""
    node = state.nodes.get(node_id)
    if node is None:  # not connected since the hub started: its record says it next time
        return
    node.pool, node.trusted, node.owner = placement.pool, placement.trusted, placement.owner
    state.candidates_changed()


def retier(state: DispatchState, pool: str, trusted: bool) -> None:
    """An admin changed a pool's tier: its nodes are trusted, or not, from now on."""
    for node in state.nodes.values():
        if node.pool == pool:
            node.trusted = trusted
    state.candidates_changed()


def disconnect(state: DispatchState, node_id: str, *, leaving: bool) -> None:
    """The node's connection closed: it is lost unless it is back within the grace period; at
    once when it said it is leaving (it stopped its work)."""
    node = state.nodes.get(node_id)
    if node is None:
        return
    node.send = None
    if leaving:
        node.away_since = None
        lose(state, node)
        return
    node.away_since = state.clock.now()
    state.candidates_changed()


def forget(state: DispatchState, node_id: str) -> None:
    """A node that is not connected leaves the farm for good: what it still held goes to other
    nodes now, and it is no longer counted anywhere."""
    node = state.nodes.get(node_id)
    if node is not None:
        assert not node.connected, "only a node that is not connected is forgotten"
        lose(state, node)
        del state.nodes[node_id]
    state.drained.discard(node_id)
    state.candidates_changed()


def heard(state: DispatchState, node: NodeLink) -> None:
    """Any message from the node: it is alive, and a silent node may have work again."""
    node.last_seen = state.clock.now()
    if node.silent:
        node.silent = False
        state.candidates_changed()


def status(state: DispatchState, node: NodeLink, message: NodeStatus) -> None:
    """The node's owner policy changed what it may do: a node that stops being available is
    given no new work (what it holds stays leased to it); one available again is."""
    before, window = node.availability, node.window_end
    _take_status(state, node, message)
    if node.availability is not before:
        log.info(
            "%s is %s%s",
            node.name,
            node.availability.value,
            f": {node.reason}" if node.reason else "",
        )
    if node.availability is not before or node.window_end != window:
        state.candidates_changed()  # the schedules plan with its window: a new end is news


def _take_status(state: DispatchState, node: NodeLink, message: NodeStatus) -> None:
    now = state.clock.now()
    suspended = Availability.SUSPENDED
    if message.availability is suspended or node.availability is suspended:
        node.suspended_at = now  # it is, or was until now
    node.availability = message.availability
    node.reason = message.reason
    seconds = message.window_seconds
    end = None if seconds is None else now + seconds
    kept = node.window_end
    if end is None or kept is None or abs(end - kept) > WINDOW_SLACK:
        node.window_end = end  # the same end, told again a moment later, is kept as it was
    node.policy = dict(message.policy)
    node.week = tuple(message.week)


def heartbeat(state: DispatchState, node: NodeLink, message: Heartbeat) -> None:
    """The node names the batches it is working on: their leases are extended."""
    now = state.clock.now()
    if node.unclaimed:
        _release_unclaimed(state, node, set(message.batches), now)
    for batch_id in message.batches:
        lease = state.leases.get(batch_id)
        if lease is not None and lease.node_id == node.id:
            held = state.maps.get(lease.map_id)
            if held is not None:
                held.schedule.heartbeat(batch_id, now)
    if state.market is not None:
        trading.running(state, node.id, message.batches)


def _release_unclaimed(state: DispatchState, node: NodeLink, named: set[str], now: float) -> None:
    """Batches a node came back without (a restarted node holds none) go back in the queue at
    its first heartbeat, not when their lease runs out: till then they kept its slots full, so
    it sat idle. The results it kept of them came before the heartbeat did."""
    for batch_id in sorted(node.unclaimed - named):
        lease = state.leases.get(batch_id)
        if lease is None or lease.node_id != node.id:
            continue
        log.info(
            "%s came back without batch %s: its %d items back in the queue",
            node.name,
            batch_id,
            len(lease.indices),
        )
        state.end_batch(lease, now)
    node.unclaimed.clear()
    state.wake()


def holds_blob(state: DispatchState, node_id: str, sha256: str) -> bool:
    """Whether a batch leased to the node names the blob among its items' arguments."""
    node = state.nodes.get(node_id)
    if node is None:
        return False
    for batch_id in node.leases:
        lease = state.leases.get(batch_id)
        held = state.maps.get(lease.map_id) if lease is not None else None
        if lease is None or held is None or lease.node_id != node_id:
            continue
        if any(mentions(held.items[index], sha256) for index in lease.indices):
            return True
    return False


def check_nodes(state: DispatchState, now: float) -> bool:
    """Lose nodes away past the grace period and silence those unheard for a lease; whether a
    node was silenced (the caller tells the schedules)."""
    for away in state.nodes.values():
        gone = away.away_since is not None and now - away.away_since >= state.times.grace
        if gone and not away.connected:
            away.away_since = None
            lose(state, away)
    silenced = False
    for quiet in state.nodes.values():
        unheard = now - quiet.last_seen >= state.times.lease
        if unheard and quiet.connected and not quiet.silent and quiet.leases:
            _silence(state, quiet, now)
            silenced = True
    return silenced


def _silence(state: DispatchState, node: NodeLink, now: float) -> None:
    """No word from a connected node for a whole lease (frozen, or cut off): its leases expire;
    it gets no new work until it is heard from again, and then starts afresh."""
    log.info(
        "no word from %s for %g s: the lease of its %d batch(es) expired, their items "
        "go back in the queue",
        node.name,
        now - node.last_seen,
        len(node.leases),
    )
    node.silent = True
    for held in state.maps.values():
        for batch_id in held.schedule.node_lost(node.id, now):
            state.cancel_lease(batch_id, "lease expired")


def lose(state: DispatchState, node: NodeLink) -> None:
    """The node is gone (away past the grace period, leaving, or forgotten): its unfinished
    items go elsewhere."""
    now = state.clock.now()
    for held in state.maps.values():
        for batch_id in held.schedule.node_lost(node.id, now):
            lease = state.leases.get(batch_id)
            if lease is not None:
                log.info(
                    "%s is gone: %d items of %s back in the queue",
                    node.name,
                    len(lease.indices),
                    batch_id,
                )
                state.drop_lease(lease, cancel=False)
    state.candidates_changed()
