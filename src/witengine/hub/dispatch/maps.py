"""Maps in flight: opened with their stored results and a schedule, checked every tick for
expired leases and for a lack of nodes able to run them, closed when they end.

After a hub restart a map whose activity and items match a stored one finds the results
committed before, and waits for those its nodes kept (`reclaims`): those items are not run
again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Sequence

from witengine.errors import NoCompatibleNode, WitError
from witengine.hub.dispatch import reclaims, trading, verifying
from witengine.hub.dispatch.commits import check_complete
from witengine.hub.dispatch.records import Json, MapDigest, MapState, NodeLink
from witengine.hub.dispatch.state import DispatchState, able, admitted, trusted_with
from witengine.hub.store.base import MapState as StoredMap
from witengine.hub.turns import in_turns
from witengine.plugins.requirements import Requirements, combined, unmet
from witengine.runtime.executor import ItemFailed, MapRequest, Progress
from witengine.scheduling.strategy import Strategy

log = logging.getLogger(__name__)

# (activity, every item's arguments) -> (its plugin, each item's estimated work)
Estimator = Callable[[str, Sequence[Sequence[Json]]], tuple[str, list[float]]]
# (activity, one item's arguments) -> what the node that runs it must have beyond the activity
# (a tool the item names), or None; raises WitError when the arguments say nothing it can use.
Requirer = Callable[[str, Sequence[Json]], Requirements | None]


def no_requirements(activity: str, args: Sequence[Json]) -> Requirements | None:
    """Items need nothing beyond their activity."""
    return None


def uniform_estimate(activity: str, items: Sequence[Sequence[Json]]) -> tuple[str, list[float]]:
    """One unit of work per item, and the activity's module as its plugin."""
    return activity.rpartition(".")[0], [1.0] * len(items)


async def open_map(
    state: DispatchState,
    job_id: str,
    seq: int,
    request: MapRequest,
    progress: Progress,
    estimate: Estimator,
    requires: Requirer = no_requirements,
) -> MapState:
    """Store the map (or find it stored, with its results, and wait for those nodes kept across
    a hub restart), schedule the items without a result, and put it in flight; ItemFailed when a
    stored item had already failed it, or when an item's arguments say nothing a node can be
    chosen by."""
    requirements = await _requirements(requires, request)
    stored = await _stored(state, job_id, seq, request)
    if stored.failures:
        index, error = min(stored.failures.items())
        raise ItemFailed(index, error)
    results = dict(stored.results)
    await reclaims.wait_for_kept(state, stored, job_id, results, progress)
    todo = [i for i in range(len(request.items)) if i not in results]
    plugin, work = await _estimate(estimate, request.activity, [request.items[i] for i in todo])
    options = request.options
    pools = state.map_pools(options.pools if options is not None else None)
    candidates = state.candidates(request.activity, job_id, requirements, pools)
    paid = trading.open_paid(state, job_id, todo, work, request.activity, plugin)
    if paid is not None:
        candidates = trading.narrowed(state, paid, request.activity, plugin, candidates)
    schedule = state.scheduler.schedule(
        job_id,
        request.activity,
        plugin,
        work,
        options.strategy if options is not None else Strategy.ADAPTIVE,
        candidates,
        now=state.clock.now(),
        max_nodes=options.max_nodes if options is not None else None,
    )
    held = MapState(
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
        candidates,
        {item: position for position, item in enumerate(todo)},
        plugin=plugin,
        requirements=requirements,
        pools=pools,
        paid=paid,
        work=work,
    )
    state.maps[held.id] = held
    progress(len(held.results), held.count)
    check_complete(held)
    state.wake()
    return held


async def _stored(state: DispatchState, job_id: str, seq: int, request: MapRequest) -> StoredMap:
    """The map as stored: found again (a job resumed), or made, its tasks stored a slice per
    turn of the loop (see `witengine.hub.turns`), as its digest was computed."""
    digest = MapDigest(request.activity)
    async for _, part in in_turns(request.items):
        digest.add(part)
    map_id = f"map_{uuid.uuid4().hex[:16]}"
    count = len(request.items)
    stored: StoredMap | None = None
    async for first, part in in_turns(request.items):
        if stored is not None:
            state.store.add_tasks(map_id, first, part)
            continue
        stored = state.store.open_map(
            map_id, job_id, seq, request.activity, digest.hexdigest(), part, count=count
        )
        if stored.record.id != map_id:  # found again: its tasks are stored already
            break
    assert stored is not None, "a map has items"
    return stored


async def _requirements(requires: Requirer, request: MapRequest) -> Requirements | None:
    """What a node must have to run any item of the map, beyond its activity (every item's
    needs together), a slice of items per turn of the loop."""
    found: list[Requirements] = []
    async for first, part in in_turns(request.items):
        for offset, args in enumerate(part):
            try:
                needs = requires(request.activity, args)
            except WitError as error:
                raise ItemFailed(first + offset, str(error)) from None
            if needs and needs not in found:
                found.append(needs)
    if not found:
        return None
    try:
        return combined(found)
    except WitError as error:
        raise ItemFailed(
            0, f"{request.activity}: its items cannot run on one node: {error}"
        ) from None


async def _estimate(
    estimate: Estimator, activity: str, items: Sequence[Sequence[Json]]
) -> tuple[str, list[float]]:
    """Each item's work as its plugin estimates it, a slice per turn of the loop."""
    try:
        if not items:
            return estimate(activity, items)
        plugin, work = "", []
        async for _, part in in_turns(items):
            plugin, estimated = estimate(activity, part)
            work += estimated
        return plugin, work
    except WitError as error:  # a plugin's estimate is a hint: plan without it
        log.warning("%s; planning one unit of work per item", error)
        return uniform_estimate(activity, items)


def close_map(state: DispatchState, held: MapState) -> None:
    """Forget a map that ended (completed, failed or cancelled) and recall its batches."""
    state.maps.pop(held.id, None)
    verifying.map_closed(state, held)
    for lease in [lease for lease in state.leases.values() if lease.map_id == held.id]:
        state.drop_lease(lease, cancel=True)
    trading.closed(state, held)


def remaining_seconds(state: DispatchState, job_id: str) -> float | None:
    """The rate model's prediction of the time the job's open maps still need (the longest of
    them: maps side by side are assumed not to slow each other); None when it cannot tell: no
    map open, the job paused, or no node able to run one."""
    if job_id in state.paused:
        return None
    now = state.clock.now()
    longest: float | None = None
    for held in state.maps.values():
        if held.job_id != job_id or held.future.done():
            continue
        seconds = held.schedule.remaining_seconds(now)
        if seconds is None or not math.isfinite(seconds):
            return None
        longest = max(longest or 0.0, seconds)
    return longest


def expire_leases(state: DispatchState, now: float) -> bool:
    """Put the items of batches whose lease ran out back in the queue; whether a node was
    silenced by it (the caller tells the schedules)."""
    silenced = False
    for held in list(state.maps.values()):
        for batch_id in held.schedule.expire(now):
            lease = state.leases.get(batch_id)
            if lease is None:
                continue
            node = state.nodes.get(lease.node_id)
            log.info(
                "lease %s of %s expired (%d items back in the queue)",
                batch_id,
                node.name if node else lease.node_id,
                len(lease.indices),
            )
            if node is not None and node.connected and not node.silent:
                node.silent = True  # no new work until it is heard from again
                silenced = True
            state.drop_lease(lease, cancel=True, reason="lease expired")
    return silenced


def fail_unrunnable(state: DispatchState, now: float) -> None:
    """Fail a map that no connected node has been able to run for the no-node wait."""
    for held in list(state.maps.values()):
        if held.future.done() or held.schedule.done or held.job_id in state.paused:
            held.waiting_since = None
            continue
        # A silent or drained node still counts: it may only be frozen or paused for a while.
        # If it is gone for good, its connection closes and it stops counting. A node blocked
        # from the job (it failed its items too often) does not: were every node blocked, the
        # map would wait for ever.
        runnable = any(_can_run(state, held, n) for n in state.nodes.values())
        if runnable and _stuck_replica(state, held) is None:
            held.waiting_since = None
        elif held.waiting_since is None:
            held.waiting_since = now
        elif now - held.waiting_since >= state.times.no_node:
            held.future.set_exception(_no_node(state, held))


def _can_run(state: DispatchState, held: MapState, node: NodeLink) -> bool:
    blocked = state.scheduler.blocklist.blocked(held.job_id, node.id, held.plugin)
    pinned_away = state.pinned_away(held.job_id, node)
    return (
        node.connected
        and able(node, held.activity, held.requirements)
        and admitted(node, held.pools)
        and not blocked
        and not pinned_away
        and trusted_with(state, node, held.activity)
    )


def _stuck_replica(state: DispatchState, held: MapState) -> tuple[int, frozenset[str]] | None:
    """An item waiting for a replica that no connected node may take (every node able to run
    it is of an owner that answered it already), and those owners."""
    waiting = held.schedule.replicas_waiting()
    if not waiting:
        return None
    owners = {n.owner_key for n in state.nodes.values() if _can_run(state, held, n)}
    for position, answered in waiting.items():
        if owners <= answered:
            return held.todo[position], answered
    return None


def _no_node(state: DispatchState, held: MapState) -> NoCompatibleNode:
    stuck = _stuck_replica(state, held)
    if stuck is not None and any(_can_run(state, held, n) for n in state.nodes.values()):
        index, owners = stuck
        return NoCompatibleNode(
            f"item {index} of {held.activity} needs a result from another owner's node to be "
            f"verified, and every connected node that can run it is of an owner that answered "
            f"it already ({', '.join(sorted(owners))}; waited {state.times.no_node:g} s)"
        )
    online = [n for n in state.nodes.values() if n.connected]
    pinned = state.pinned.get(held.job_id)
    if pinned is not None and not any(
        n.name == pinned and able(n, held.activity, held.requirements) for n in online
    ):
        return NoCompatibleNode(
            f"the job may run only on node {pinned!r}, which is not connected or cannot run "
            f"{held.activity} (waited {state.times.no_node:g} s)"
        )
    outside = sorted(
        n.name
        for n in online
        if able(n, held.activity, held.requirements) and not admitted(n, held.pools)
    )
    if outside and not any(_can_run(state, held, n) for n in online):
        allowed = ", ".join(sorted(held.pools)) if held.pools else "the trusted pools only"
        return NoCompatibleNode(
            f"no node the job may use can run {held.activity}: it may use {allowed}, and the "
            f"nodes that can run it are in other pools ({', '.join(outside)}); name their pool "
            "in the job's pools (wit run --pools, or ProcessingOptions' pools)"
        )
    offering = [n for n in online if held.activity in n.activities]
    untrusted = [n for n in offering if not trusted_with(state, n, held.activity)]
    if untrusted and len(untrusted) == len(offering):
        return NoCompatibleNode(_untrusted_only(state, held, untrusted))
    names = sorted(n.name for n in offering if able(n, held.activity, held.requirements))
    if names:
        failure = ""
        if held.last_failure is not None:
            failure = f"; the last failure, item {held.last_failure[0]}: "
            failure += held.last_failure[1]
        return NoCompatibleNode(
            f"every connected node that can run {held.activity} failed it "
            f"{state.scheduler.blocklist.after} times in this job and is blocked from it "
            f"({', '.join(names)}){failure}"
        )
    if not online:
        return NoCompatibleNode(
            f"no node is connected to run {held.activity} "
            f"(waited {state.times.no_node:g} s); start one with `wit node --hub URL`"
        )
    if offering and held.requirements:
        return NoCompatibleNode(_lacking(held, offering, held.requirements))
    lacking = sorted((n.name, n.unmet[held.activity]) for n in online if n.unmet.get(held.activity))
    if lacking:
        reasons = "; ".join(_has(name, gap) for name, gaps in lacking for gap in gaps)
        return NoCompatibleNode(f"no connected node can run {held.activity}: {reasons}")
    connected = ", ".join(sorted(n.name for n in online))
    return NoCompatibleNode(
        f"no connected node can run {held.activity} (connected: {connected}); "
        "install the plugin that provides it on a node"
    )


def _untrusted_only(state: DispatchState, held: MapState, nodes: list[NodeLink]) -> str:
    """Why the untrusted nodes, the only ones connected, may not run the map."""
    names = ", ".join(sorted(n.name for n in nodes))
    if not state.compare.can_compare(held.activity):
        return (
            f"the only nodes connected that can run {held.activity} are untrusted ({names}), "
            "and its plugin declares no way to compare results, so they cannot be verified"
        )
    return (
        f"every connected node that can run {held.activity} is untrusted and was caught "
        f"returning wrong results ({names})"
    )


def _lacking(held: MapState, offering: list[NodeLink], requirements: Requirements) -> str:
    """No node offering the activity has what its items need, and what each has instead: `no
    node has prman to run Tool.Run: a has no prman; b has no prman`."""
    needs = ", ".join(requirements.describe())
    reasons = []
    for node in sorted(offering, key=lambda n: n.name):
        if node.capabilities is None:
            reasons.append(f"{node.name} did not say what it has")
            continue
        reasons += [_has(node.name, gap) for gap in unmet(requirements, node.capabilities)]
    return f"no node has {needs} to run {held.activity}: {'; '.join(reasons)}"


def _has(name: str, gap: str) -> str:
    """What a node has instead, from what `unmet` says it lacks: "needs prman; this node has no
    prman" -> "a has no prman"."""
    has = gap.partition("; ")[2] or gap
    return has.replace("this node", name, 1)
