"""Results from untrusted nodes, held until verified: the shell around `scheduling.verifier`.

A result the schedule says to commit is committed at once only from a trusted node, on an item
nobody else has answered. An untrusted node's result is held (not stored, not counted, not seen
by the job; it is acknowledged, so the node forgets it: were the hub to restart, the item would
simply run again), and the item is reopened as a replica for a node of another owner. Each
answer that comes back is compared, in a task of its own (a plugin's comparison may take time;
the loop goes on), with one answer of each agreeing group, in the order the answers arrived;
when the quorum decides, the agreed value is stored once, under the item's current attempt, and
the nodes' records change (`Verifier.notes`: stored, and audited when a trust state changes).
An item that fails for want of a quorum makes its answerers new again, and their results held
unchecked are verified after all.

A node reliable for an activity has most of its results accepted unchecked. They are held too,
not committed, until the map has nothing else left to wait for: the job sees none of a map's
results before it completes, so holding them costs it no time, and until then every one can
still be re-verified if the node is caught wrong (a check agreeing on one item says nothing of
another). A hub that stops loses them, and their items run again.

A node caught wrong (outvoted, or wrong on a spot check) is blocked for the activity in the
whole farm (for every activity after a spot check), its batches of it are called back, every
result of it not yet verified is discarded and its item run again elsewhere, and it is told
(`TrustNotice`).

An expensive item of an activity whose plugin declares a `TrustedCrop` check (a rendered frame
of a million pixel-samples or more) is checked otherwise: a trusted node renders a random crop
of it (`Verification.run_crop`: a map of one item of the job, on the trusted pools only), and
the untrusted node's result is accepted when its pixels there equal the crop's within the
plugin's tolerance, or rejected and its node caught wrong. When no trusted node renders the
crop, the item is replicated after all.

Spot checks: some batches of an untrusted node carry, as an ordinary task, an item of the same
map already verified by others; its answer is compared with the known one and never reaches
the schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from witengine.hub.dispatch import trading
from witengine.hub.dispatch.commits import commit
from witengine.hub.dispatch.records import Json, MapState, NodeLink
from witengine.hub.store.base import Commit
from witengine.protocol import TaskResult, TrustNotice
from witengine.runtime.comparisons import TrustedCrop
from witengine.scheduling.cropping import choose_crop
from witengine.scheduling.verification import (
    Answer,
    Change,
    Record,
    TrustState,
    VerificationSettings,
)
from witengine.scheduling.verifier import Action, Key, Step, Verifier

if TYPE_CHECKING:
    from witengine.hub.dispatch.state import DispatchState

log = logging.getLogger(__name__)

# Told of a node's record for an activity whenever it changes (for the store), and of each
# change of its trust state (for the audit log).
RecordListener = Callable[[str, str, Record], None]
ChangeListener = Callable[[Change], None]
# Runs an activity once on a trusted node for a job, and returns its result (the dispatcher's).
CropRunner = Callable[[str, str, list[Json]], Coroutine[Any, Any, Json]]


@dataclass(frozen=True)
class Said:
    """What a node answered for an item: the value, and what the commit credits it with."""

    value: Json
    seconds: float
    node: NodeLink


@dataclass
class Verification:
    """The farm's verifier, the answers waiting to be compared, and who hears of records."""

    verifier: Verifier
    waiting: dict[Key, deque[Answer]] = field(default_factory=dict)  # to compare, in order
    record_listeners: list[RecordListener] = field(default_factory=list)
    change_listeners: list[ChangeListener] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    run_crop: CropRunner | None = None  # None: nothing is checked by a crop
    crops: dict[Key, asyncio.Task[None]] = field(default_factory=dict)  # crops out, by item

    @classmethod
    def make(cls, settings: VerificationSettings | None, seed: int | None) -> Verification:
        return cls(Verifier(settings or VerificationSettings(), random.Random(seed)))


# ------------------------------------------------------------------ answers


def answered(state: DispatchState, held: MapState, node: NodeLink, result: TaskResult) -> bool:
    """A result the schedule said to commit: True when it is held here, to be verified (or
    accepted later, unchecked), False when it is to be committed now (a trusted node's, on an
    item nobody else answered)."""
    v = state.verification
    key = (held.id, result.index)
    if node.trusted and v.verifier.settles(key):
        return False
    answer = Answer(node.id, node.owner_key, node.trusted, Said(result.value, result.seconds, node))
    check = _crop_check(state, held, result.index)
    step = v.verifier.answered(key, held.activity, answer, crop=check is not None)
    if step.action is Action.COMMIT:
        return False
    if step.action is Action.CROP:
        assert check is not None
        task = _start(state, _crop(state, held, key, check, answer))
        v.crops[key] = task
        task.add_done_callback(lambda done: v.crops.pop(key) if v.crops.get(key) is done else None)
    if step.action is Action.COMPARE:
        waiting = v.waiting.get(key)
        if waiting is None:
            v.waiting[key] = deque((answer,))
            _start(state, _compare(state, held, key))
        else:
            waiting.append(answer)  # after those before it, by the comparison running
    else:
        _carry_out(state, held, key, step)
    _notes(state)
    release_if_done(state, held)
    return True


def _start(state: DispatchState, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run a comparison as a task of its own: the loop goes on meanwhile."""
    task = asyncio.get_running_loop().create_task(work)
    tasks = state.verification.tasks
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


def _crop_check(state: DispatchState, held: MapState, index: int) -> TrustedCrop | None:
    """How the item is checked by a trusted crop, when it is: its activity declares it, the
    item is expensive enough, and the dispatcher can run a crop."""
    if state.verification.run_crop is None:
        return None
    check = state.compare.crop_check(held.activity)
    if check is None:
        return None
    position = held.positions.get(index)
    work = held.work[position] if position is not None and position < len(held.work) else 0.0
    return check if check.crops(work) else None


async def _crop(
    state: DispatchState, held: MapState, key: Key, check: TrustedCrop, answer: Answer
) -> None:
    """Have a trusted node render a random crop of the item, and compare the answer with it."""
    v = state.verification
    assert v.run_crop is not None
    value = said(answer).value
    step: Step | None
    size = await state.compare.image_size(value)
    if state.maps.get(held.id) is not held:
        return
    if size is None:
        step = v.verifier.cropped(key, agrees=False)  # no image to crop: it shows no work
    else:
        box = choose_crop(*size, check.share, v.verifier.random)
        args = [*held.items[key[1]], box.x, box.y, box.width, box.height]
        try:
            crop = await v.run_crop(held.job_id, check.by, args)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # no trusted node rendered it: replicate instead
            log.warning("the crop of item %s of %s was not rendered: %s", key[1], held.id, error)
            step = v.verifier.crop_failed(key)
        else:
            if state.maps.get(held.id) is not held:
                return
            try:
                agrees = await state.compare.crop_agrees(held.activity, value, crop, box)
            except Exception:
                log.exception("comparing a crop of %s failed", held.activity)
                agrees = False
            step = v.verifier.cropped(key, agrees)
    if step is None or state.maps.get(held.id) is not held:
        return
    if step.action is Action.REJECT:
        for wrong in step.wrong:
            reason = f"its result for item {key[1]} of {held.id} disagreed with a trusted crop"
            trading.rejected(state, held, key[1], wrong.node_id, "disagreed with a trusted crop")
            caught(state, answer_node(state, wrong), held.activity, reason)
        held.schedule.reopen(held.positions[key[1]], step.owners, state.clock.now())
    else:
        _carry_out(state, held, key, step, "agreed with a trusted crop")
    _notes(state)
    release_if_done(state, held)
    state.wake()


async def _compare(state: DispatchState, held: MapState, key: Key) -> None:
    """Compare the item's waiting answers with its groups, one answer at a time, in order."""
    v = state.verification
    waiting = v.waiting[key]
    try:
        while waiting:
            answer = waiting[0]
            representatives = v.verifier.representatives(key)
            if representatives is None or state.maps.get(held.id) is not held:
                return  # the map ended
            agrees = [await _agree(state, held.activity, r, answer) for r in representatives]
            if state.maps.get(held.id) is not held:
                return
            step = v.verifier.compared(key, answer, representatives, agrees)
            if step is None:
                return
            if step.action is Action.COMPARE:
                continue  # a node was caught meanwhile and its answers dropped: again
            waiting.popleft()
            _carry_out(state, held, key, step)
            _notes(state)
            release_if_done(state, held)
    finally:
        if v.waiting.get(key) is waiting:
            del v.waiting[key]
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


def _carry_out(
    state: DispatchState,
    held: MapState,
    key: Key,
    step: Step,
    agreed: str = "agreed by nodes of other owners",
) -> None:
    """Do what the verifier decided about an answer to item `key` of the map."""
    index = key[1]
    attempt = held.attempts.get(index, 0)
    if step.action is Action.REPLICATE:
        held.schedule.reopen(held.positions[index], step.owners, state.clock.now())
    elif step.action is Action.FAIL:
        log.warning("item %s of %s failed verification: %s", index, held.id, step.reason)
        assert step.answer is not None
        blamed = answer_node(state, step.answer)  # credited with nothing: it is a failure
        trading.rejected(state, held, index, blamed.id, step.reason)
        commit(state, held, [(blamed, Commit(index, attempt, error=step.reason), 0.0)])
        _reopen(state, step.reopen)  # its answerers are new again: verify what they held
    elif step.action is Action.ACCEPT:
        assert step.answer is not None
        chosen = said(step.answer)
        credited = answer_node(state, step.answer)
        trading.verified(state, held, index, credited, agreed)
        for wrong in step.wrong:
            trading.rejected(state, held, index, wrong.node_id, "outvoted by the agreed result")
        commit(state, held, [(credited, Commit(index, attempt, chosen.value), chosen.seconds)])
        for wrong in step.wrong:
            if not state.verification.verifier.book.blocked(wrong.node_id, held.activity):
                reason = f"its result for item {index} of {held.id} disagreed with the accepted one"
                caught(state, answer_node(state, wrong), held.activity, reason)


def release_if_done(state: DispatchState, held: MapState) -> None:
    """The map has nothing left to wait for but the results held unchecked: accept them (what
    adaptive replication accepts from a reliable node)."""
    if not held.schedule.done or state.maps.get(held.id) is not held:
        return
    released = state.verification.verifier.release(held.id)
    if not released:
        return
    commits = []
    for (_, index), answer in released:
        chosen = said(answer)
        attempt = held.attempts.get(index, 0)
        trading.verified(
            state, held, index, answer_node(state, answer), "accepted unchecked: node reliable"
        )
        commits.append(
            (answer_node(state, answer), Commit(index, attempt, chosen.value), chosen.seconds)
        )
    commit(state, held, commits)


# ------------------------------------------------------------------ consequences


def caught(
    state: DispatchState, node: NodeLink, activity: str, reason: str, *, spot: bool = False
) -> None:
    """The node was caught wrong: blocked for the activity (for every one after a spot check),
    its batches called back, its results not yet verified discarded and their items run again
    elsewhere, and it is told."""
    v = state.verification
    reopen = v.verifier.caught(node.id, node.owner_key, activity, spot=spot)
    _notes(state)
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
    _reopen(state, reopen)
    state.candidates_changed()  # the schedules plan without it


def _reopen(state: DispatchState, items: Iterable[tuple[Key, frozenset[str]]]) -> None:
    """Reopen the items, each for a node of none of its owners, in the maps still running."""
    now = state.clock.now()
    for (map_id, index), owners in items:
        answered_in = state.maps.get(map_id)
        if answered_in is not None:
            answered_in.schedule.reopen(answered_in.positions[index], owners, now)


def _notes(state: DispatchState) -> None:
    """Records changed: tell the listeners (the store), and of each change of a trust state
    (the audit log)."""
    v = state.verification
    for note in v.verifier.notes():
        for listener in v.record_listeners:
            listener(note.node_id, note.activity, note.record)
        change = note.change
        if change is not None:
            log.info(
                "%s is %s for %s (was %s): %s",
                change.node_id,
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
    if node.trusted:
        return None
    verifier = state.verification.verifier
    return verifier.spot_check(node.id, node.owner_key, held.id, held.activity, held.results)


def spot_answered(state: DispatchState, node: NodeLink, result: TaskResult) -> bool:
    """Whether the result answers a spot check (then it is checked here, and goes no further)."""
    verifier = state.verification.verifier
    found, _ = verifier.spot_answered(node.id, result.map_id, result.index)
    if not found:
        return False
    held = state.maps.get(result.map_id)
    if held is None or not result.ok or result.index not in held.results:
        return True  # a failure is no wrong answer: the item was not the node's to finish
    known = held.results[result.index]
    _start(state, _spot(state, node, held, known, result.value))
    return True


async def _spot(
    state: DispatchState, node: NodeLink, held: MapState, known: Json, value: Json
) -> None:
    try:
        agreed = await state.compare.agree(held.activity, known, value)
    except Exception:
        log.exception("comparing a spot check of %s failed", held.activity)
        return
    if state.verification.verifier.spot_checked(node.id, held.activity, agreed):
        _notes(state)
        return
    caught(state, node, held.activity, "it answered a spot check wrong", spot=True)


def map_closed(state: DispatchState, held: MapState) -> None:
    """Forget what the map held back (it completed, failed or was cancelled)."""
    v = state.verification
    v.verifier.forget(held.id)
    for key in [key for key in v.waiting if key[0] == held.id]:
        del v.waiting[key]
    for key in [key for key in v.crops if key[0] == held.id]:
        v.crops.pop(key).cancel()  # its crop map closes with it
