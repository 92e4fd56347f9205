"""After a hub restart: a resumed map whose items were out on nodes waits for what they kept.

The items committed before the restart are kept. Those that were out on nodes when the hub
stopped wait, until the grace period after the hub's start ends or each is accounted for, for
their nodes to come back and deliver what they finished while the hub was away (or say they no
longer hold it); only then is the map scheduled, so nothing already done runs again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from witengine.hub.dispatch.records import Arrivals, Json, NodeLink, Reclaim
from witengine.hub.dispatch.state import DispatchState
from witengine.hub.store.base import Commit
from witengine.hub.store.base import MapState as StoredMap
from witengine.protocol import ResultKey, TaskResult
from witengine.runtime.executor import Progress

log = logging.getLogger(__name__)


async def wait_for_kept(
    state: DispatchState,
    stored: StoredMap,
    job_id: str,
    results: dict[int, Json],
    progress: Progress,
) -> None:
    """A map resumed after a restart, with items out on nodes at the crash: wait for them (see
    `Reclaim`) until every one is accounted for or the grace after the hub's start ends. The
    results that come meanwhile are committed into `results`."""
    out = {i: a for i, a in stored.attempts.items() if a and i not in results}
    deadline = state.started + state.times.grace
    if not out or state.clock.now() >= deadline:
        return
    future = asyncio.get_running_loop().create_future()
    count = stored.record.count
    reclaim = Reclaim(stored.record.id, job_id, count, results, progress, out, deadline, future)
    state.reclaims[reclaim.id] = reclaim
    progress(len(results), count)
    log.info(
        "%s resumed: %d item(s) were out on nodes; waiting up to %g s for what they kept",
        reclaim.id,
        len(out),
        deadline - state.clock.now(),
    )
    try:
        await future
    finally:
        del state.reclaims[reclaim.id]


def not_coming(state: DispatchState, keys: Iterable[ResultKey]) -> None:
    """Items a node held from before a hub restart and now stops: no resumed map waits for them
    any longer."""
    for key in keys:
        reclaim = state.reclaims.get(key.map_id)
        if reclaim is not None and reclaim.takes(key.index, key.attempt):
            reclaim.accounted([key.index])


def kept_result(node: NodeLink, reclaim: Reclaim, result: TaskResult, arrivals: Arrivals) -> None:
    """A result kept by a node across a hub restart, for a resumed map not yet scheduled:
    committed if it is the item's current attempt and ok, and the node is trusted; a failure,
    or an untrusted node's result (it would need verifying, and its answers to the item were
    lost with the hub), runs again."""
    if not reclaim.takes(result.index, result.attempt):
        return
    if result.ok and node.trusted:
        commit = Commit(result.index, result.attempt, result.value)
        arrivals.commits.setdefault(reclaim.id, []).append((node, commit, result.seconds))
    else:
        reclaim.accounted([result.index])


def cancel(state: DispatchState, job_id: str) -> None:
    """The job was cancelled: its resumed maps stop waiting."""
    for reclaim in [r for r in state.reclaims.values() if r.job_id == job_id]:
        reclaim.settled.cancel()


def settle_expired(state: DispatchState, now: float) -> None:
    """Resumed maps whose wait ran out go on without what did not come back."""
    for reclaim in state.reclaims.values():
        if now >= reclaim.deadline:
            reclaim.settle()
