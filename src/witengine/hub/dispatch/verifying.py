"""Results from untrusted nodes, held until verified: the shell around `scheduling.verification`.

A result the schedule says to commit is committed at once only from a trusted node, on an item
nobody else has answered. An untrusted node's result is held (not stored, not counted, not seen
by the job; it is acknowledged, so the node forgets it: were the hub to restart, the item would
simply run again), and the item is reopened as a replica for a node of another owner. Each
answer that comes back is compared, in a task of its own (a plugin's comparison may take time;
the loop goes on), with one answer of each agreeing group, in the order the answers arrived;
when the quorum decides, the agreed value is stored once, under the item's current attempt, and
the nodes' records change (`TrustBook`).

A node reliable for an activity has most of its results accepted unchecked. They are held too,
not committed, until the map has nothing else left to wait for: the job sees none of a map's
results before it completes, so holding them costs it no time, and until then every one can
still be re-verified if the node is caught wrong (a check agreeing on one item says nothing of
another). A hub that stops loses them, and their items run again. A node caught
wrong (outvoted, or wrong on a spot check) is blocked for the activity in the whole farm (for
every activity after a spot check), its batches of it are called back, every result of it not
yet verified is discarded and its item run again elsewhere, and it is told (`TrustNotice`).

Spot checks: some batches of an untrusted node carry, as an ordinary task, an item of the same
map already verified by others; its answer is compared with the known one and never reaches
the schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from witengine.hub.dispatch.commits import commit
from witengine.hub.dispatch.records import Json, MapState, NodeLink
from witengine.hub.store.base import Commit
from witengine.protocol import TaskResult, TrustNotice
from witengine.scheduling.verification import (
    Answer,
    Change,
    Record,
    Ruling,
    Tally,
    TrustBook,
    TrustState,
    VerificationSettings,
    Votes,
)

if TYPE_CHECKING:
    from witengine.hub.dispatch.state import DispatchState

log = logging.getLogger(__name__)

ItemKey = tuple[str, int]  # (map id, index)
# Told of a node's record for an activity whenever it changes (for the store), and of each
# change of its trust state (for the audit log).
RecordListener = Callable[[str, str, Record], None]
ChangeListener = Callable[[Change], None]


@dataclass(frozen=True)
class Said:
    """What a node answered for an item: the value, and what the commit credits it with."""

    value: Json
    seconds: float
    node: NodeLink


@dataclass
class Pending:
    """An item under verification: its answers so far, and those waiting to be compared."""

    held: MapState
    index: int
    votes: Votes
    waiting: deque[Answer] = field(default_factory=deque)
    comparing: bool = False


@dataclass
class VerificationCosts:
    """What verification cost the farm since the hub started, in items: for benchmarks and the
    operator (replicated work over the work of the maps is its price)."""

    verified: int = 0  # items accepted by a quorum (or a trusted node's answer)
    unchecked: int = 0  # items accepted from a reliable node's answer alone
    replicas: int = 0  # items reopened for another answer (each one more item computed)
    spot_checks: int = 0  # known items sent in untrusted nodes' batches
    failed: int = 0  # items that failed for want of a quorum
    caught: int = 0  # nodes caught wrong


@dataclass
class Verification:
    """Items under verification, results held unchecked, spot checks out, and the trust book."""

    settings: VerificationSettings
    book: TrustBook
    pending: dict[ItemKey, Pending] = field(default_factory=dict)
    pending_by_map: dict[str, int] = field(default_factory=dict)
    # A reliable node's results accepted unchecked, held until their map has nothing else to
    # wait for: node -> item -> (its map, the answer)
    unchecked: dict[str, dict[ItemKey, tuple[MapState, Answer]]] = field(default_factory=dict)
    # Spot checks out: (node, map, index) -> the known value
    spots: dict[tuple[str, str, int], Json] = field(default_factory=dict)
    # Per map, items whose value was verified (what spot checks are made of), and who answered
    known: dict[str, list[tuple[int, frozenset[str]]]] = field(default_factory=dict)
    spotting: bool = False  # an untrusted node has asked for work: keep what spot checks need
    costs: VerificationCosts = field(default_factory=lambda: VerificationCosts())
    record_listeners: list[RecordListener] = field(default_factory=list)
    change_listeners: list[ChangeListener] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def make(cls, settings: VerificationSettings | None, seed: int | None) -> Verification:
        settings = settings or VerificationSettings()
        return cls(settings, TrustBook(settings, random.Random(seed)))

    def blocked(self, node: NodeLink, activity: str) -> bool:
        """Whether the node was caught wrong at the activity (or at a spot check)."""
        return not node.trusted and self.book.blocked(node.id, activity)

    def held_back(self, map_id: str) -> bool:
        """Whether some of the map's answers wait for verification."""
        return self.pending_by_map.get(map_id, 0) > 0


# ------------------------------------------------------------------ answers


def answered(state: DispatchState, held: MapState, node: NodeLink, result: TaskResult) -> bool:
    """A result the schedule said to commit: True when it is held here, to be verified (or
    accepted later, unchecked), False when it is to be committed now (a trusted node's, on an
    item nobody else answered)."""
    v = state.verification
    key = (held.id, result.index)
    pending = v.pending.get(key)
    if node.trusted and pending is None:
        if v.spotting:  # what a spot check may be made of
            v.known.setdefault(held.id, []).append((result.index, frozenset((node.owner_key,))))
        return False
    answer = Answer(node.id, node.owner_key, node.trusted, Said(result.value, result.seconds, node))
    if pending is not None:
        pending.waiting.append(answer)
        _compare_soon(state, pending)
    elif v.book.check(node.id, held.activity):
        pending = Pending(held, result.index, Votes(v.settings))
        v.pending[key] = pending
        v.pending_by_map[held.id] = v.pending_by_map.get(held.id, 0) + 1
        _ruled(state, pending, pending.votes.add(answer, []))
    else:
        v.unchecked.setdefault(node.id, {})[key] = (held, answer)
        release_if_done(state, held)
    return True


def _compare_soon(state: DispatchState, pending: Pending) -> None:
    if pending.comparing:
        return  # the running comparison takes the new answer after the ones before it
    pending.comparing = True
    task = asyncio.get_running_loop().create_task(_compare(state, pending))
    tasks = state.verification.tasks
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _compare(state: DispatchState, pending: Pending) -> None:
    """Compare the item's waiting answers with its groups, one answer at a time, in order."""
    v = state.verification
    held = pending.held
    key = (held.id, pending.index)
    try:
        while pending.waiting and v.pending.get(key) is pending:
            answer = pending.waiting[0]
            representatives = pending.votes.representatives()
            agrees = [await _agree(state, held.activity, r, answer) for r in representatives]
            if v.pending.get(key) is not pending:
                return  # the map ended meanwhile
            if pending.votes.representatives() != representatives:
                continue  # a node was caught meanwhile and its answers dropped: again
            pending.waiting.popleft()
            if v.blocked(answer_node(state, answer), held.activity):
                # caught meanwhile: its answer counts for nothing, the item needs another
                owners = pending.votes.owners | {answer.owner}
                held.schedule.reopen(held.positions[pending.index], owners, state.clock.now())
                v.costs.replicas += 1
                continue
            _ruled(state, pending, pending.votes.add(answer, agrees))
    finally:
        pending.comparing = False
        state.wake()


async def _agree(state: DispatchState, activity: str, first: Answer, second: Answer) -> bool:
    try:
        return await state.compare.agree(activity, said(first).value, said(second).value)
    except Exception:  # a comparer's bug: the answers count as disagreeing, and it is logged
        log.exception("comparing two results of %s failed", activity)
        return False


def said(answer: Answer) -> Said:
    value = answer.value
    assert isinstance(value, Said)
    return value


def answer_node(state: DispatchState, answer: Answer) -> NodeLink:
    """The node's link as it is now (a node that reconnected has a new one), or as it was."""
    return state.nodes.get(answer.node_id) or said(answer).node


def _ruled(state: DispatchState, pending: Pending, tally: Tally) -> None:
    """Carry out what the item's answers decided."""
    v = state.verification
    held, index = pending.held, pending.index
    if tally.ruling is Ruling.REPLICATE:
        held.schedule.reopen(held.positions[index], tally.owners, state.clock.now())
        v.costs.replicas += 1
        return
    del v.pending[(held.id, index)]
    v.pending_by_map[held.id] -= 1
    activity = held.activity
    attempt = held.attempts.get(index, 0)
    if tally.ruling is Ruling.FAIL:
        v.costs.failed += 1
        for answer in pending.votes.answers:
            if not answer.trusted:
                _noted(state, answer.node_id, activity, v.book.undecided(answer.node_id, activity))
        log.warning("item %s of %s failed verification: %s", index, held.id, tally.reason)
        first = answer_node(state, pending.votes.answers[0])
        commit(state, held, [(first, Commit(index, attempt, error=tally.reason), 0.0)])
        return
    assert tally.accepted is not None
    v.costs.verified += 1
    chosen = said(tally.accepted)
    credited = answer_node(state, tally.accepted)
    commit(state, held, [(credited, Commit(index, attempt, chosen.value), chosen.seconds)])
    v.known.setdefault(held.id, []).append((index, tally.owners))
    for answer in tally.agreeing:
        if not answer.trusted:
            _noted(state, answer.node_id, activity, v.book.agreed(answer.node_id, activity))
    for answer in tally.wrong:
        if not answer.trusted and not v.book.blocked(answer.node_id, activity):
            reason = f"its result for item {index} of {held.id} disagreed with the accepted one"
            caught(state, answer_node(state, answer), activity, reason)
    release_if_done(state, held)


def release_if_done(state: DispatchState, held: MapState) -> None:
    """The map has nothing left to wait for but the results held unchecked: accept them (what
    adaptive replication accepts from a reliable node)."""
    v = state.verification
    if not held.schedule.done or v.held_back(held.id) or not v.unchecked:
        return
    entries: list[tuple[ItemKey, tuple[MapState, Answer]]] = []
    for held_back in v.unchecked.values():
        mine = [key for key in held_back if key[0] == held.id]
        entries += [(key, held_back.pop(key)) for key in mine]
    state.verification.costs.unchecked += len(entries)
    _commit_unchecked(state, entries)


def _commit_unchecked(
    state: DispatchState, entries: list[tuple[ItemKey, tuple[MapState, Answer]]]
) -> None:
    """Commit results held unchecked, one store transaction per map."""
    by_map: dict[str, list[tuple[NodeLink, Commit, float]]] = {}
    maps: dict[str, MapState] = {}
    for (_, index), (held, answer) in entries:
        if state.maps.get(held.id) is not held:
            continue
        chosen = said(answer)
        attempt = held.attempts.get(index, 0)
        by_map.setdefault(held.id, []).append(
            (answer_node(state, answer), Commit(index, attempt, chosen.value), chosen.seconds)
        )
        maps[held.id] = held
    for map_id, commits in by_map.items():
        commit(state, maps[map_id], commits)


# ------------------------------------------------------------------ consequences


def caught(
    state: DispatchState, node: NodeLink, activity: str, reason: str, *, spot: bool = False
) -> None:
    """The node was caught wrong: blocked for the activity (for every one after a spot check),
    its batches called back, its results not yet verified discarded and their items run again
    elsewhere, and it is told."""
    v = state.verification
    v.costs.caught += 1
    book = v.book
    change = book.spot_failed(node.id, activity) if spot else book.wrong(node.id, activity)
    _noted(state, node.id, activity, change)
    scope = "*" if spot else activity
    log.warning(
        "%s is blocked from %s: %s", node.name, "every activity" if spot else activity, reason
    )
    if node.send is not None:
        node.send(TrustNotice(activity=scope, state=TrustState.BLOCKED.value, reason=reason))
    now = state.clock.now()
    for held in list(state.maps.values()):
        if not spot and held.activity != activity:
            continue
        for batch_id in held.schedule.cancel_node(node.id):
            held.schedule.batch_ended(batch_id, now)
            state.cancel_lease(batch_id, f"blocked from {held.activity}: {reason}")
    for pending in v.pending.values():
        if spot or pending.held.activity == activity:
            pending.votes.discard(node.id)  # the item is out as a replica already
    for out in [out for out in v.spots if out[0] == node.id]:
        del v.spots[out]  # its answer would change nothing now
    held_back = v.unchecked.get(node.id, {})
    for key, (held, _) in list(held_back.items()):
        if not spot and held.activity != activity:
            continue
        del held_back[key]
        if state.maps.get(held.id) is held:
            held.schedule.reopen(held.positions[key[1]], {node.owner_key}, now)
            v.costs.replicas += 1
    state.wake()


def _noted(state: DispatchState, node_id: str, activity: str, change: Change | None) -> None:
    """The node's record changed: tell the listeners (the store), and of a change of its trust
    state (the audit log)."""
    v = state.verification
    record = v.book.record(node_id, activity)
    for listener in v.record_listeners:
        listener(node_id, activity, record)
    if change is not None:
        log.info(
            "%s is %s for %s (was %s): %s",
            node_id,
            change.after,
            change.activity,
            change.before,
            change.reason,
        )
        for changed in v.change_listeners:
            changed(change)


# ------------------------------------------------------------------ spot checks


def spot_check(state: DispatchState, node: NodeLink, held: MapState) -> int | None:
    """An item of the map to add to the node's batch as a spot check (its verified value is
    known, and the node's owner did not answer it), or None."""
    v = state.verification
    if node.trusted:
        return None
    v.spotting = v.settings.spot_check_share > 0.0
    known = v.known.get(held.id)
    if not known or not v.book.spot_check(node.id, held.activity):
        return None
    index, owners = known[v.book.random.randrange(len(known))]
    if node.owner_key in owners or index not in held.results:
        return None
    v.spots[(node.id, held.id, index)] = held.results[index]
    v.costs.spot_checks += 1
    return index


def spot_answered(state: DispatchState, node: NodeLink, result: TaskResult) -> bool:
    """Whether the result answers a spot check (then it is checked here, and goes no further)."""
    v = state.verification
    key = (node.id, result.map_id, result.index)
    if key not in v.spots:
        return False
    known = v.spots.pop(key)
    held = state.maps.get(result.map_id)
    if held is None or not result.ok:
        return True  # a failure is no wrong answer: the item was not the node's to finish
    task = asyncio.get_running_loop().create_task(_spot(state, node, held, known, result.value))
    v.tasks.add(task)
    task.add_done_callback(v.tasks.discard)
    return True


async def _spot(
    state: DispatchState, node: NodeLink, held: MapState, known: Json, value: Json
) -> None:
    try:
        agreed = await state.compare.agree(held.activity, known, value)
    except Exception:
        log.exception("comparing a spot check of %s failed", held.activity)
        return
    book = state.verification.book
    if book.blocked(node.id, held.activity):
        return  # caught meanwhile: this answer changes nothing
    if agreed:
        _noted(state, node.id, held.activity, book.spot_passed(node.id, held.activity))
    else:
        caught(state, node, held.activity, "it answered a spot check wrong", spot=True)


def map_closed(state: DispatchState, held: MapState) -> None:
    """Forget what the map held back (it completed, failed or was cancelled)."""
    v = state.verification
    for key in [key for key in v.pending if key[0] == held.id]:
        del v.pending[key]
    v.pending_by_map.pop(held.id, None)
    for held_back in v.unchecked.values():
        for key in [key for key in held_back if key[0] == held.id]:
            del held_back[key]
    v.known.pop(held.id, None)
    for spot in [spot for spot in v.spots if spot[1] == held.id]:
        del v.spots[spot]
