"""Storing results: a map's commits in one store transaction, counted for the nodes that
delivered them, and the map's caller answered once every item has its result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from witengine.hub.dispatch import trading
from witengine.hub.dispatch.records import Json, MapState, NodeLink
from witengine.hub.store.base import Commit
from witengine.runtime.executor import ItemFailed

if TYPE_CHECKING:
    from witengine.hub.dispatch.state import DispatchState


def commit(
    state: DispatchState, held: MapState, entries: list[tuple[NodeLink, Commit, float]]
) -> None:
    """Store results of a map in flight: it fails with the first failure stored, and its caller
    has every result once the last is stored."""
    failure = store_commits(state, held.id, held.job_id, held.results, entries)
    if failure is not None and not held.future.done():
        held.future.set_exception(ItemFailed(failure.index, failure.error or ""))
        return
    held.progress(len(held.results), held.count)
    check_complete(held)


def store_commits(
    state: DispatchState,
    map_id: str,
    job_id: str,
    results: dict[int, Json],
    entries: list[tuple[NodeLink, Commit, float]],
) -> Commit | None:
    """Commit a map's results: those the store accepts go into `results` and count for their
    nodes. Returns the first failure accepted, if any."""
    accepted = set(state.store.commit(map_id, [commit for _, commit, _ in entries]))
    failure: Commit | None = None
    by_node = state.work.setdefault(job_id, {})
    delivered: dict[str, list[float]] = {}  # node id -> [items, seconds] in this commit
    # Results to pay for, when the map is traded on the exchange.
    held = state.maps.get(map_id) if state.market is not None else None
    paid: list[tuple[NodeLink, int]] | None = [] if held and held.paid else None
    for node, commit, seconds in entries:
        if commit.index not in accepted:
            continue
        accepted.discard(commit.index)  # the first of an item's commits is the stored one
        if commit.error is not None:
            failure = failure or commit
            continue
        results[commit.index] = commit.value
        if paid is not None:
            paid.append((node, commit.index))
        node.done += 1
        work = by_node.setdefault(node.name, [0, 0.0])
        work[0] += 1
        work[1] += seconds
        mine = delivered.setdefault(node.id, [0, 0.0])
        mine[0] += 1
        mine[1] += seconds
    if held is not None and paid:
        trading.accepted(state, held, paid)
    for listener in state.delivery_listeners:
        for node_id, (items, spent) in delivered.items():
            listener(node_id, int(items), spent)
    return failure


def check_complete(held: MapState) -> None:
    """Every item has its result: the map's caller gets them in input order."""
    if len(held.results) == held.count and not held.future.done():
        held.future.set_result([held.results[i] for i in range(held.count)])
