"""What nodes send back: results, finished batches and heartbeats, handled a round at a time.

Results count only for an item's current attempt and are stored before they are acknowledged,
so each item's result is committed exactly once whatever nodes do: crash, freeze, reconnect, or
send a result twice. The messages that arrive in one turn of the hub's event loop are handled
together: their results cost one store transaction per map, then one acknowledgement per node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from witengine.hub.dispatch import links, reclaims, trading, verifying
from witengine.hub.dispatch.commits import commit, store_commits
from witengine.hub.dispatch.records import Arrivals, Lease, MapState, NodeLink
from witengine.hub.dispatch.state import DispatchState
from witengine.hub.store.base import Commit
from witengine.protocol import (
    Ack,
    BatchFinished,
    Heartbeat,
    NodeMessage,
    NodeStatus,
    Results,
    TaskResult,
)
from witengine.scheduling.core import Verdict

log = logging.getLogger(__name__)


def handle_many(state: DispatchState, messages: Sequence[tuple[str, NodeMessage]]) -> None:
    """Messages from nodes, in the order they arrived; their results are committed together at
    the end, then acknowledged."""
    arrivals = Arrivals()
    with state.changes_told_once():
        for node_id, message in messages:
            node = state.nodes.get(node_id)
            if node is None:
                continue
            links.heard(state, node)
            if isinstance(message, Results):
                if trading.uploaded(state, node, message):
                    _results(state, node, message, arrivals)
                else:  # refused: acknowledged, so that the node does not send them again
                    keys = arrivals.acks.setdefault(node.id, [])
                    keys += [result[:3] for result in message.results]
            elif isinstance(message, BatchFinished):
                _batch_finished(state, node, message)
            elif isinstance(message, Heartbeat):
                links.heartbeat(state, node, message)
            elif isinstance(message, NodeStatus):
                links.status(state, node, message)
    if arrivals.acks:
        _settle(state, arrivals)


def _results(state: DispatchState, node: NodeLink, message: Results, arrivals: Arrivals) -> None:
    """Tell the schedule of each result; keep those it commits in `arrivals`."""
    now = state.clock.now()
    commits = arrivals.commits
    late = withdrawn = 0
    named = state.leases.get(message.batch_id) if message.batch_id in node.leases else None
    spots = state.verification.verifier.spot_out()
    for result in message.results:
        if spots and _spot_answered(state, node, named, result, arrivals):
            continue
        held = state.maps.get(result.map_id)
        if held is None and result.map_id in state.reclaims:
            reclaims.kept_result(node, state.reclaims[result.map_id], result, arrivals)
            continue
        if held is None or held.attempts.get(result.index) != result.attempt:
            late += 1  # fenced off: an old attempt, or a map that has ended
            continue
        if named is not None and named.map_id == held.id and result.index in named.indices:
            lease: Lease | None = named  # the batch the message names: what it mostly is
        else:
            lease = _lease_holding(state, node, held, result)
        if lease is None:
            withdrawn += 1  # its batch was called back (a copy that lost), or given away
            continue
        lease.indices.discard(result.index)
        arrivals.touched.add(lease.batch_id)
        outcome = held.schedule.result(
            lease.batch_id,
            held.positions[result.index],
            ok=result.ok,
            now=now,
            seconds=result.seconds,
            error=result.error or "",
            final=result.final and node.trusted,  # an untrusted node cannot end a map
        )
        for batch_id in outcome.cancel:
            state.cancel_lease(batch_id, "another node finished its items first")
        if outcome.verdict is Verdict.COMMIT:
            if verifying.answered(state, held, node, result):
                continue  # held until verified
            commits.setdefault(held.id, []).append(
                (node, Commit(result.index, result.attempt, result.value), result.seconds)
            )
        elif outcome.verdict is Verdict.FAIL:
            error = result.error or "failed without a message"
            commits.setdefault(held.id, []).append(
                (node, Commit(result.index, result.attempt, error=error), result.seconds)
            )
        elif outcome.verdict is Verdict.RETRY:
            held.last_failure = (result.index, result.error or "failed without a message")
            log.info(
                "item %s of %s failed on %s, to be tried again: %s",
                result.index,
                held.id,
                node.name,
                result.error,
            )
    if late:
        log.info("ignored %d late result(s) from %s (attempts fenced off)", late, node.name)
    if withdrawn:  # routine near the end of a map: the losing copies of duplicated items
        log.debug("ignored %d result(s) of withdrawn batches from %s", withdrawn, node.name)
    keys = arrivals.acks.setdefault(node.id, [])
    keys += [result[:3] for result in message.results]  # (map_id, index, attempt)


def _spot_answered(
    state: DispatchState,
    node: NodeLink,
    named: Lease | None,
    result: TaskResult,
    arrivals: Arrivals,
) -> bool:
    """Whether the result answers a spot check (`verifying` checks it; the schedule never
    knew of the item)."""
    if not verifying.spot_answered(state, node, result):
        return False
    if named is not None and result.index in named.indices:
        named.indices.discard(result.index)
        arrivals.touched.add(named.batch_id)
    return True


def _lease_holding(
    state: DispatchState, node: NodeLink, held: MapState, result: TaskResult
) -> Lease | None:
    """The node's batch the result belongs to: the one of its leases holding the item."""
    for batch_id in node.leases:
        lease = state.leases.get(batch_id)
        if lease is not None and lease.map_id == held.id and result.index in lease.indices:
            return lease
    return None


def _settle(state: DispatchState, arrivals: Arrivals) -> None:
    """Commit what arrived, then acknowledge every result to its node, kept or not."""
    for map_id, entries in arrivals.commits.items():
        held = state.maps.get(map_id)
        reclaim = state.reclaims.get(map_id)
        if held is not None:
            commit(state, held, entries)
            verifying.release_if_done(state, held)
        elif reclaim is not None:
            store_commits(state, reclaim.id, reclaim.job_id, reclaim.results, entries)
            reclaim.progress(len(reclaim.results), reclaim.count)
            reclaim.accounted(commit.index for _, commit, _ in entries)
    for node_id, keys in arrivals.acks.items():
        node = state.nodes.get(node_id)
        if node is not None and node.send is not None:
            node.send(Ack.model_construct(results=keys))  # built here from checked values
    _prune_leases(state, arrivals.touched)
    state.wake()


def _prune_leases(state: DispatchState, batch_ids: set[str]) -> None:
    """Of these batches, those with every item answered: the node is done with them, and so is
    the schedule (it keeps a batch until told, and a node it thinks busy is given no
    duplicate)."""
    now = state.clock.now()
    for batch_id in batch_ids:
        lease = state.leases.get(batch_id)
        if lease is not None and not lease.indices:
            state.end_batch(lease, now)


def _batch_finished(state: DispatchState, node: NodeLink, message: BatchFinished) -> None:
    """The node is done with the batch: what it finished came before (in this round, or an
    earlier one); the rest goes back in front of the queue, for other nodes first. A batch handed
    back (its owner needs the machine) is no failure of its items or of the node."""
    lease = state.leases.get(message.batch_id)
    if lease is None or lease.node_id != node.id:
        return
    if message.error:
        log.warning("batch %s failed on %s: %s", message.batch_id, node.name, message.error)
    elif message.handed_back:
        log.info(
            "%s handed back batch %s: its %d unfinished items back in the queue",
            node.name,
            message.batch_id,
            len(lease.indices),
        )
    state.end_batch(lease, state.clock.now())
    state.wake()
