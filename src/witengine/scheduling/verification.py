"""Verification of results from untrusted nodes: the quorum on each item's answers, and each
node's trust per activity (adaptive replication, spot checks, blocks).

Pure: no I/O, no clock, no comparisons of values. Whether two answers agree is the plugin's to
say (the hub's `Comparer`, which may take time): the driver compares a new answer with one answer
of each agreeing group (`Votes.representatives`) and passes what it found to `Votes.add`.
Randomness is a `random.Random` passed in, so a seeded run repeats.

The quorum (`Votes`): an item is ACCEPTed when answers of `quorum` different owners agree, or
at once when a trusted node answers (its answer alone settles the item, and the untrusted ones
that disagree with it are wrong). Until then it needs a REPLICA (another answer, from a node of
an owner that has not answered it); after `max_answers` answers without a quorum it FAILs, the
disagreement named. When an item is accepted, the answers outside the agreeing group are wrong.

Trust (`TrustBook`), per (node, activity), after BOINC's adaptive replication: a node is NEW
until `reliable_after` of its answers in a row agreed with others; then RELIABLE, and only a
random share of its answers is checked (`replicate_share`, shrinking as its run of agreements
grows, never under `replicate_floor`). An answer found wrong BLOCKS the node for the activity;
a disagreement nobody could settle sends it back to NEW (and the driver has its answers
accepted unchecked verified after all: `verifier.Verifier`). Spot checks: a share of an untrusted
node's batches carry an item whose answer is known; a wrong answer to one blocks the node for
every activity at once.

    book = TrustBook(VerificationSettings(), random.Random(seed))
    book.check(node, activity)           # must this answer be verified? (always, unless reliable)
    book.spot_check(node, activity)      # add a known item to this batch?
    votes = Votes(settings)
    tally = votes.add(Answer(node, owner, trusted, value), agrees=[...])  # one per group
    tally.ruling                         # ACCEPT, REPLICATE or FAIL
    book.agreed(node, activity) / book.wrong(node, activity) / book.undecided(node, activity)
    book.spot_passed(node, activity) / book.spot_failed(node, activity)

Each of the book's calls returns the `Change` of trust state it made, if any (for the audit log).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class VerificationSettings:
    quorum: int = 2  # agreeing answers of different owners that accept an item
    max_answers: int = 4  # answers without a quorum after which the item fails
    reliable_after: int = 10  # answers in a row that agreed: the node is reliable
    replicate_share: float = 0.10  # of a reliable node's answers, the share checked
    replicate_floor: float = 0.02  # the least share checked, however long its record
    spot_check_share: float = 0.05  # of an untrusted node's batches, those given a known item

    def __post_init__(self) -> None:
        if self.quorum < 2 or self.max_answers < self.quorum:
            raise ValueError("quorum must be at least 2 and max_answers at least the quorum")
        for name in ("replicate_share", "replicate_floor", "spot_check_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


class Ruling(enum.Enum):
    ACCEPT = "accept"  # the agreed answer is the item's result
    REPLICATE = "replicate"  # another answer is needed, from an owner that has not answered
    FAIL = "fail"  # too many answers and no quorum: the item fails with the disagreement


class TrustState(enum.StrEnum):
    NEW = "new"  # every answer is verified
    RELIABLE = "reliable"  # a random share of its answers is verified
    BLOCKED = "blocked"  # caught wrong: no more of this activity's work (or of any)


@dataclass(frozen=True)
class Answer:
    """One node's answer to one item; `value` is the driver's, never looked into here."""

    node_id: str
    owner: str
    trusted: bool = False
    value: Any = None


@dataclass(frozen=True)
class Tally:
    """Where an item's answers stand after the last one."""

    ruling: Ruling
    accepted: Answer | None = None  # ACCEPT: the answer whose value is committed
    agreeing: tuple[Answer, ...] = ()  # ACCEPT: the answers that agreed with it
    wrong: tuple[Answer, ...] = ()  # ACCEPT: the answers that disagreed (their nodes were wrong)
    owners: frozenset[str] = frozenset()  # every owner that answered: a replica avoids them
    reason: str = ""  # FAIL: the disagreement, in words


class Votes:
    """The answers to one item, in groups that agree with each other."""

    def __init__(self, settings: VerificationSettings) -> None:
        self._settings = settings
        self._groups: list[list[Answer]] = []
        self.decided: Tally | None = None  # ACCEPT or FAIL, once reached

    @property
    def answers(self) -> list[Answer]:
        return [answer for group in self._groups for answer in group]

    @property
    def owners(self) -> frozenset[str]:
        return frozenset(answer.owner for answer in self.answers)

    def representatives(self) -> list[Answer]:
        """One answer of each group: a new answer is compared with each, in this order."""
        return [group[0] for group in self._groups]

    def add(self, answer: Answer, agrees: Sequence[bool]) -> Tally:
        """Count `answer`; `agrees[g]` says whether it agrees with group g's representative."""
        if self.decided is not None:
            return self.decided
        if len(agrees) != len(self._groups):
            raise ValueError(f"{len(agrees)} comparisons for {len(self._groups)} groups")
        joined = next((g for g, agreed in enumerate(agrees) if agreed), None)
        if joined is None:
            self._groups.append([answer])
            joined = len(self._groups) - 1
        else:
            self._groups[joined].append(answer)
        tally = self._tally(answer, joined)
        if tally.ruling is not Ruling.REPLICATE:
            self.decided = tally
        return tally

    def discard(self, node_id: str) -> bool:
        """Forget the node's answers (it was caught wrong elsewhere: they count for nothing);
        whether it had any. A group whose first answer goes is represented by its next."""
        if self.decided is not None:
            return False
        kept = [[a for a in group if a.node_id != node_id] for group in self._groups]
        kept = [group for group in kept if group]
        found = sum(map(len, kept)) != sum(map(len, self._groups))
        self._groups = kept
        return found

    def _tally(self, answer: Answer, joined: int) -> Tally:
        owners = self.owners
        trusted = next((g for g, group in enumerate(self._groups) if _has_trusted(group)), None)
        if trusted is not None:
            return self._accept(trusted, owners)
        group = self._groups[joined]
        if len({a.owner for a in group}) >= self._settings.quorum:
            return self._accept(joined, owners)
        answers = self.answers
        if len(answers) >= self._settings.max_answers:
            sizes = ", ".join(
                f"{len(g)} from {', '.join(sorted(a.node_id for a in g))}" for g in self._groups
            )
            reason = (
                f"{len(answers)} nodes disagree on the result and no "
                f"{self._settings.quorum} of different owners agree (answers: {sizes})"
            )
            return Tally(Ruling.FAIL, owners=owners, reason=reason)
        return Tally(Ruling.REPLICATE, owners=owners)

    def _accept(self, chosen: int, owners: frozenset[str]) -> Tally:
        group = self._groups[chosen]
        accepted = next((a for a in group if a.trusted), group[0])
        wrong = tuple(a for g, other in enumerate(self._groups) if g != chosen for a in other)
        return Tally(Ruling.ACCEPT, accepted, tuple(group), wrong, owners)


def _has_trusted(group: Iterable[Answer]) -> bool:
    return any(answer.trusted for answer in group)


@dataclass(frozen=True)
class Record:
    """A node's record for one activity."""

    state: TrustState = TrustState.NEW
    streak: int = 0  # answers in a row that agreed with others
    accepted: int = 0  # answers found right
    rejected: int = 0  # answers found wrong
    spot_passed: int = 0
    spot_failed: int = 0


@dataclass(frozen=True)
class Change:
    """A node's trust state changed for an activity ("*": all of them), and why."""

    node_id: str
    activity: str
    before: TrustState
    after: TrustState
    reason: str


@dataclass
class TrustBook:
    """Every node's record per activity, and the decisions taken from it."""

    settings: VerificationSettings
    random: random.Random
    _records: dict[tuple[str, str], Record] = field(default_factory=dict)
    _banned: set[str] = field(default_factory=set)  # blocked for every activity

    def record(self, node_id: str, activity: str) -> Record:
        record = self._records.get((node_id, activity), Record())
        if node_id in self._banned and record.state is not TrustState.BLOCKED:
            record = replace(record, state=TrustState.BLOCKED)
        return record

    def records(self) -> dict[tuple[str, str], Record]:
        """Every (node, activity) record kept."""
        return {key: self.record(*key) for key in self._records}

    def load(self, node_id: str, activity: str, record: Record) -> None:
        """A record kept before (the store's, at the hub's start)."""
        self._records[(node_id, activity)] = record

    def ban(self, node_id: str) -> None:
        """The node is blocked for every activity (a record kept before)."""
        self._banned.add(node_id)

    def blocked(self, node_id: str, activity: str) -> bool:
        return self.record(node_id, activity).state is TrustState.BLOCKED

    def check(self, node_id: str, activity: str) -> bool:
        """Whether the node's answer must be verified by another: always while it is new; for
        a reliable node, a share that shrinks as its run of agreements grows."""
        record = self.record(node_id, activity)
        if record.state is not TrustState.RELIABLE:
            return True
        return self.random.random() < self.replicate_share(record)

    def replicate_share(self, record: Record) -> float:
        """The share of a reliable node's answers that is checked."""
        settings = self.settings
        longer = settings.reliable_after / max(record.streak, settings.reliable_after)
        return max(settings.replicate_floor, settings.replicate_share * longer)

    def spot_check(self, node_id: str, activity: str) -> bool:
        """Whether the node's next batch carries an item whose answer is known."""
        if self.blocked(node_id, activity):
            return False
        return self.random.random() < self.settings.spot_check_share

    def agreed(self, node_id: str, activity: str) -> Change | None:
        """The node's answer agreed with the accepted one."""
        record = self.record(node_id, activity)
        if record.state is TrustState.BLOCKED:
            return None
        streak = record.streak + 1
        state = record.state
        if state is TrustState.NEW and streak >= self.settings.reliable_after:
            state = TrustState.RELIABLE
        updated = replace(record, streak=streak, accepted=record.accepted + 1, state=state)
        return self._set(node_id, activity, updated, f"{streak} answers in a row agreed")

    def wrong(self, node_id: str, activity: str) -> Change | None:
        """The node's answer disagreed with the accepted one: blocked for the activity."""
        record = self.record(node_id, activity)
        updated = replace(record, state=TrustState.BLOCKED, streak=0, rejected=record.rejected + 1)
        return self._set(node_id, activity, updated, "its result disagreed with the accepted one")

    def undecided(self, node_id: str, activity: str) -> Change | None:
        """The node's answer was in a disagreement nobody settled: it is new again."""
        record = self.record(node_id, activity)
        if record.state is TrustState.BLOCKED:
            return None
        updated = replace(record, state=TrustState.NEW, streak=0)
        return self._set(node_id, activity, updated, "its result was in an unsettled disagreement")

    def spot_passed(self, node_id: str, activity: str) -> Change | None:
        record = self.record(node_id, activity)
        return self._set(node_id, activity, replace(record, spot_passed=record.spot_passed + 1), "")

    def spot_failed(self, node_id: str, activity: str) -> Change | None:
        """A wrong answer to an item whose answer was known: blocked for every activity."""
        record = self.record(node_id, activity)
        self._banned.add(node_id)
        updated = replace(
            record, state=TrustState.BLOCKED, streak=0, spot_failed=record.spot_failed + 1
        )
        change = self._set(node_id, activity, updated, "it answered a spot check wrong")
        if change is None:  # blocked for the activity already: still news for the others
            return Change(node_id, "*", record.state, TrustState.BLOCKED, "spot check failed")
        return replace(change, activity="*")

    def _set(self, node_id: str, activity: str, record: Record, reason: str) -> Change | None:
        before = self._records.get((node_id, activity), Record()).state
        self._records[(node_id, activity)] = record
        if record.state is before:
            return None
        return Change(node_id, activity, before, record.state, reason)
