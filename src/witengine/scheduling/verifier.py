"""The verification of a farm's results as one pure state machine, driven alike by the hub's
dispatcher (`hub/dispatch/verifying.py`, which compares with the plugins' comparers and stores
what is decided) and by the simulator: which answer is committed at once, held or compared, what
each item's quorum decides, and what a node caught wrong costs.

An item is named by a `Key`, (map id, index). Answers carry what the driver needs in
`Answer.value`; the verifier never looks into it. Comparing is the driver's (a plugin's
comparison may take time): the verifier says what to compare an answer with, and the driver
says what it found. The driver's protocol:

    verifier = Verifier(VerificationSettings(), random.Random(seed))
    step = verifier.answered(key, activity, answer)  # the schedule said COMMIT to a result
        COMMIT     a trusted node's, on an item nobody else answered: commit it now
        HOLD       a reliable node's, accepted unchecked: held until `release(map)`
        REPLICATE  the item needs another answer: `schedule.reopen(index, step.owners, now)`
        COMPARE    compare the answer with each of `verifier.representatives(key)`, in order
        CROP       (answered with crop=True) have a trusted node re-render a random crop of
                   the item (`cropping.choose_crop` with `verifier.random`), then:
    step = verifier.cropped(key, agrees)   # whether the answer's crop equals the trusted one
        ACCEPT     commit `step.answer`'s value
        REJECT     `step.wrong` was wrong: `caught` its node; reopen the item as for REPLICATE
        REPLICATE  its node was caught meanwhile: reopen the item
    step = verifier.crop_failed(key)       # no trusted node could render it: REPLICATE instead
    step = verifier.compared(key, answer, representatives, agrees)   # what comparing found
        COMPARE    the representatives changed meanwhile (a node was caught): compare again
        REPLICATE  as above
        ACCEPT     commit `step.answer`'s value; `step.wrong` were wrong: `caught` each
        FAIL       fail the item with `step.reason`; reopen `step.reopen`'s items (the
                   results its answerers' records had let through unchecked, now verified)
    reopen = verifier.caught(node, owner, activity)    # items to reopen, with owners to avoid
    index = verifier.spot_check(node, owner, map_id, activity, committed)  # add to its batch?
    verifier.spot_answered(node, map_id, index)        # the known value, if it was a spot check
    verifier.spot_checked(node, activity, agreed)      # False: call caught(..., spot=True)
    held = verifier.release(map_id)   # the map's schedule is done: commit these answers
    verifier.forget(map_id)           # the map ended
    verifier.notes()                  # records changed since: persist them, audit the changes

A map whose activity cannot be compared must get no untrusted node (the driver's to enforce),
nor may a node that `book.blocked` for the activity.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from witengine.scheduling.verification import (
    Answer,
    Change,
    Record,
    Ruling,
    TrustBook,
    VerificationSettings,
    Votes,
)

Key = tuple[str, int]  # (map id, index)


class Action(enum.Enum):
    COMMIT = "commit"  # commit this answer now: nothing to verify
    HOLD = "hold"  # accepted unchecked: held until its map has nothing else to wait for
    COMPARE = "compare"  # compare the answer with the item's representatives
    REPLICATE = "replicate"  # the item needs another answer, from an owner not in `owners`
    ACCEPT = "accept"  # the quorum agreed: commit `answer`
    FAIL = "fail"  # no quorum after the most answers allowed: fail the item with `reason`
    CROP = "crop"  # a trusted node is to re-render a random crop of the item to check `answer`
    REJECT = "reject"  # `wrong` disagreed with a trusted crop: reopen the item for other owners


@dataclass(frozen=True)
class Step:
    """What the driver does next about one answer."""

    action: Action
    answer: Answer | None = None  # ACCEPT: the one whose value is committed; FAIL: the first
    owners: frozenset[str] = frozenset()  # REPLICATE: owners the replica may not go to
    wrong: tuple[Answer, ...] = ()  # ACCEPT: answers that disagreed (their nodes were wrong)
    reason: str = ""  # FAIL: the disagreement
    # FAIL: items whose held unchecked answers are to be verified now, with owners to avoid
    reopen: tuple[tuple[Key, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Note:
    """A node's record changed (`change`: and its trust state with it)."""

    node_id: str
    activity: str
    record: Record
    change: Change | None


@dataclass
class VerificationCosts:
    """What verification has cost, in items: replicated work over the maps' work is its price."""

    verified: int = 0  # items accepted by a quorum (or a trusted node's answer)
    unchecked: int = 0  # items accepted from a reliable node's answer alone
    replicas: int = 0  # items reopened for another answer (each one more item computed)
    spot_checks: int = 0  # known items sent in untrusted nodes' batches
    failed: int = 0  # items that failed for want of a quorum
    caught: int = 0  # nodes caught wrong
    crops: int = 0  # crops of items re-rendered on trusted nodes (each a share of an item)


@dataclass
class _Item:
    activity: str
    votes: Votes
    cropped: Answer | None = None  # the answer a trusted crop is out to check


_COMMIT = Step(Action.COMMIT)
_HOLD = Step(Action.HOLD)
_COMPARE = Step(Action.COMPARE)


@dataclass
class Verifier:
    """Items under verification, answers held unchecked, spot checks out, and the trust book."""

    settings: VerificationSettings
    random: random.Random
    book: TrustBook = field(init=False)
    costs: VerificationCosts = field(default_factory=VerificationCosts)
    _items: dict[Key, _Item] = field(default_factory=dict)
    _open: dict[str, int] = field(default_factory=dict)  # map -> its items under verification
    # A reliable node's answers accepted unchecked: node -> item -> (activity, answer)
    _unchecked: dict[str, dict[Key, tuple[str, Answer]]] = field(default_factory=dict)
    _spots: dict[tuple[str, str, int], Any] = field(default_factory=dict)  # out, known value
    # Per map, items whose value was verified (what spot checks are made of), and who answered
    _known: dict[str, list[tuple[int, frozenset[str], Any]]] = field(default_factory=dict)
    _spotting: bool = False  # an untrusted node asked for work: keep what spot checks need
    _notes: list[Note] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.book = TrustBook(self.settings, self.random)

    # ---------------------------------------------------------------- answers

    def settles(self, key: Key) -> bool:
        """Whether a trusted node's answer to the item is committed as it comes, with nothing to
        note (a driver's fast path past `answered`)."""
        return key not in self._items and not self._spotting

    def answered(self, key: Key, activity: str, answer: Answer, *, crop: bool = False) -> Step:
        """An answer the schedule took (it said COMMIT): what to do with it. `crop`: the
        activity's plugin checks an untrusted answer by a trusted node's render of a crop of
        it, rather than by another owner's whole answer."""
        item = self._items.get(key)
        if item is not None:
            return _COMPARE
        if answer.trusted:
            if self._spotting:
                self._known.setdefault(key[0], []).append(
                    (key[1], frozenset((answer.owner,)), answer.value)
                )
            return _COMMIT
        if self.book.check(answer.node_id, activity):
            item = self._items[key] = _Item(activity, Votes(self.settings))
            self._open[key[0]] = self._open.get(key[0], 0) + 1
            item.votes.add(answer, [])  # one answer: never a quorum
            if crop:
                item.cropped = answer
                self.costs.crops += 1
                return Step(Action.CROP, answer=answer)
            self.costs.replicas += 1
            return Step(Action.REPLICATE, owners=frozenset((answer.owner,)))
        self._unchecked.setdefault(answer.node_id, {})[key] = (activity, answer)
        return _HOLD

    def representatives(self, key: Key) -> list[Answer] | None:
        """The answers to compare a new one with, in order; None: the item is not verified
        any more (its map ended)."""
        item = self._items.get(key)
        return None if item is None else item.votes.representatives()

    def compared(
        self, key: Key, answer: Answer, representatives: list[Answer], agrees: list[bool]
    ) -> Step | None:
        """What comparing `answer` with `representatives` found; None: the item is not
        verified any more."""
        item = self._items.get(key)
        if item is None:
            return None
        votes = item.votes
        if votes.representatives() != representatives:
            return _COMPARE  # a node was caught meanwhile and its answers dropped
        if not answer.trusted and self.book.blocked(answer.node_id, item.activity):
            # caught since it answered: its answer counts for nothing, the item needs another
            self.costs.replicas += 1
            return Step(Action.REPLICATE, owners=votes.owners | {answer.owner})
        tally = votes.add(answer, agrees)
        if tally.ruling is Ruling.REPLICATE:
            self.costs.replicas += 1
            return Step(Action.REPLICATE, owners=tally.owners)
        self._done(key)
        if tally.ruling is Ruling.FAIL:
            self.costs.failed += 1
            reopen: list[tuple[Key, frozenset[str]]] = []
            for other in votes.answers:
                if not other.trusted:
                    self._note(other.node_id, item.activity, self.book.undecided)
                    reopen += self._recheck(other.node_id, item.activity)
            return Step(Action.FAIL, votes.answers[0], reason=tally.reason, reopen=tuple(reopen))
        assert tally.accepted is not None
        self.costs.verified += 1
        self._known.setdefault(key[0], []).append((key[1], tally.owners, tally.accepted.value))
        for other in tally.agreeing:
            if not other.trusted:
                self._note(other.node_id, item.activity, self.book.agreed)
        wrong = tuple(a for a in tally.wrong if not a.trusted)
        return Step(Action.ACCEPT, tally.accepted, wrong=wrong)

    def cropped(self, key: Key, agrees: bool) -> Step | None:
        """Whether the answer a CROP step named equals, in its crop, a trusted node's render
        of that crop; None: the item is not verified by that crop any more (its map ended, or
        another answer decided it meanwhile)."""
        item = self._items.get(key)
        if item is None or item.cropped is None or item.votes.decided is not None:
            return None
        answer = item.cropped
        self._done(key)
        owners = frozenset((answer.owner,))
        if self.book.blocked(answer.node_id, item.activity):  # caught since: computed again
            self.costs.replicas += 1
            return Step(Action.REPLICATE, owners=owners)
        if not agrees:
            self.costs.replicas += 1
            return Step(Action.REJECT, answer, owners=owners, wrong=(answer,))
        self.costs.verified += 1
        self._known.setdefault(key[0], []).append(
            (key[1], frozenset((answer.owner,)), answer.value)
        )
        self._note(answer.node_id, item.activity, self.book.agreed)
        return Step(Action.ACCEPT, answer)

    def crop_failed(self, key: Key) -> Step | None:
        """No trusted node rendered the crop a CROP step asked for: the item is verified as any
        other, by another owner's answer (REPLICATE); None: it is not verified any more."""
        item = self._items.get(key)
        if item is None or item.cropped is None or item.votes.decided is not None:
            return None
        owner = item.cropped.owner
        item.cropped = None
        self.costs.replicas += 1
        return Step(Action.REPLICATE, owners=frozenset((owner,)))

    def _done(self, key: Key) -> None:
        del self._items[key]
        self._open[key[0]] -= 1

    def _recheck(self, node_id: str, activity: str) -> list[tuple[Key, frozenset[str]]]:
        """The node is new again: its answers held unchecked for the activity are put under
        verification, each as the first answer to its item; returns the items to reopen."""
        held = self._unchecked.get(node_id, {})
        reopen = []
        for key in [key for key, (act, _) in held.items() if act == activity]:
            _, answer = held.pop(key)
            item = self._items[key] = _Item(activity, Votes(self.settings))
            self._open[key[0]] = self._open.get(key[0], 0) + 1
            item.votes.add(answer, [])
            self.costs.replicas += 1
            reopen.append((key, frozenset((answer.owner,))))
        return reopen

    def busy(self, map_id: str) -> bool:
        """Whether some of the map's items are under verification."""
        return self._open.get(map_id, 0) > 0

    def release(self, map_id: str) -> list[tuple[Key, Answer]]:
        """The map's schedule is done: the answers held unchecked, to commit (none while some
        of its items are under verification: one of them may yet catch a node)."""
        if self.busy(map_id):
            return []
        released: list[tuple[Key, Answer]] = []
        for held in self._unchecked.values():
            mine = [key for key in held if key[0] == map_id]
            released += [(key, held.pop(key)[1]) for key in mine]
        self.costs.unchecked += len(released)
        return released

    def held(self) -> tuple[int, int]:
        """Items under verification, and answers held unchecked."""
        return len(self._items), sum(map(len, self._unchecked.values()))

    # ----------------------------------------------------------- consequences

    def caught(
        self, node_id: str, owner: str, activity: str, *, spot: bool = False
    ) -> list[tuple[Key, frozenset[str]]]:
        """The node was caught wrong: blocked for the activity (for every one after a spot
        check), its answers under verification dropped; returns the items it answered that
        were held unchecked, to reopen for other owners than `owner`."""
        self.costs.caught += 1
        book = self.book
        self._note(node_id, activity, book.spot_failed if spot else book.wrong)
        for item in self._items.values():
            if spot or item.activity == activity:
                item.votes.discard(node_id)  # the item is out as a replica already
        for out in [out for out in self._spots if out[0] == node_id]:
            del self._spots[out]  # its answer would change nothing now
        held = self._unchecked.get(node_id, {})
        mine = [key for key, (act, _) in held.items() if spot or act == activity]
        for key in mine:
            del held[key]
        self.costs.replicas += len(mine)
        return [(key, frozenset((owner,))) for key in mine]

    # ------------------------------------------------------------- spot checks

    def spot_check(
        self, node_id: str, owner: str, map_id: str, activity: str, committed: Container[int]
    ) -> int | None:
        """An item of the map to add to an untrusted node's batch as a spot check (its value
        verified and `committed`, and answered by none of the node's owner), or None."""
        self._spotting = self.settings.spot_check_share > 0.0
        known = self._known.get(map_id)
        if not known or not self.book.spot_check(node_id, activity):
            return None
        index, owners, value = known[self.random.randrange(len(known))]
        if owner in owners or index not in committed:
            return None
        self._spots[(node_id, map_id, index)] = value
        self.costs.spot_checks += 1
        return index

    def spot_out(self) -> bool:
        """Whether any spot check is out."""
        return bool(self._spots)

    def spot_answered(self, node_id: str, map_id: str, index: int) -> tuple[bool, Any]:
        """Whether this result of the node's answers a spot check, and the known value."""
        out = (node_id, map_id, index)
        if out not in self._spots:
            return False, None
        return True, self._spots.pop(out)

    def spot_checked(self, node_id: str, activity: str, agreed: bool) -> bool:
        """The node's answer to a spot check agreed with the known value or not; False: it is
        to be `caught` (spot=True). A node caught meanwhile changes nothing."""
        if self.book.blocked(node_id, activity):
            return True
        if agreed:
            self._note(node_id, activity, self.book.spot_passed)
        return agreed

    # ----------------------------------------------------------------- the rest

    def forget(self, map_id: str) -> None:
        """The map ended (completed, failed or cancelled): forget what it held."""
        for key in [key for key in self._items if key[0] == map_id]:
            del self._items[key]
        self._open.pop(map_id, None)
        for held in self._unchecked.values():
            for key in [key for key in held if key[0] == map_id]:
                del held[key]
        self._known.pop(map_id, None)
        for out in [out for out in self._spots if out[1] == map_id]:
            del self._spots[out]

    def notes(self) -> list[Note]:
        """The records changed since the last call, in order."""
        notes, self._notes = self._notes, []
        return notes

    def _note(
        self, node_id: str, activity: str, event: Callable[[str, str], Change | None]
    ) -> None:
        change = event(node_id, activity)
        self._notes.append(Note(node_id, activity, self.book.record(node_id, activity), change))
