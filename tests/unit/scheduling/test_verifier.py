"""The pure verifier driven as the simulator drives it: a real schedule, nodes that answer at
once, comparisons against the answers' values. Honest volunteers of different owners, a node
that answers at random and two colluding nodes of one owner; seeded, so a run repeats."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.core import Candidate, Verdict
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.strategy import Strategy
from witengine.scheduling.verification import Answer, TrustState, VerificationSettings
from witengine.scheduling.verifier import Action, Verifier

ACTIVITY = "Compute.Square"
MAP = "map_1"


class Farm:
    """A map of `count` items on nodes (node -> (owner, how it answers: "right", "random" or a
    constant value)), driven through a real schedule and the verifier."""

    def __init__(
        self, answers: dict[str, tuple[str, object]], count: int, seed: int, **knobs: float
    ) -> None:
        self.answers = answers
        self.noise = random.Random(seed)
        self.verifier = Verifier(VerificationSettings(**knobs), random.Random(seed))  # type: ignore[arg-type]
        self.nodes = [Candidate(n, owner=owner, trusted=False) for n, (owner, _) in answers.items()]
        self.schedule = Scheduler(SchedulerSettings(min_lease=5.0, duplicate_limit=0.0)).schedule(
            "job_1", ACTIVITY, "compute", [1.0] * count, Strategy.QUEUED, self.nodes, now=0.0
        )
        self.committed: dict[int, object] = {}
        self.computed = 0  # items computed, replicas and all
        self.now = 0.0

    def value(self, node: str, index: int) -> object:
        how = self.answers[node][1]
        if how == "right":
            return index * index
        return self.noise.random() if how == "random" else how

    def run(self) -> None:
        verifier, schedule = self.verifier, self.schedule
        for _ in range(100 * len(self.nodes) * max(1, schedule.count)):
            if schedule.done and not verifier.busy(MAP):
                break
            self.now += 1.0
            for node in self.nodes:
                if not verifier.book.blocked(node.id, ACTIVITY):
                    self.work(node)
            if schedule.done:
                for (_, index), answer in verifier.release(MAP):
                    self.commit(index, answer)
        assert schedule.done and not verifier.busy(MAP), "the map did not end"

    def work(self, node: Candidate) -> None:
        """The node asks for an item and answers it at once."""
        grant = self.schedule.request(node, self.now)
        if grant is None:
            return
        for index in grant.indices:
            self.computed += 1
            outcome = self.schedule.result(grant.batch_id, index, ok=True, now=self.now)
            if outcome.verdict is Verdict.COMMIT:
                self.answered(index, Answer(node.id, node.owner, False, self.value(node.id, index)))
        self.schedule.batch_ended(grant.batch_id, self.now)

    def answered(self, index: int, answer: Answer) -> None:
        verifier = self.verifier
        step = verifier.answered((MAP, index), ACTIVITY, answer)
        if step.action is Action.COMPARE:
            representatives = verifier.representatives((MAP, index)) or []
            agrees = [r.value == answer.value for r in representatives]
            compared = verifier.compared((MAP, index), answer, representatives, agrees)
            assert compared is not None
            step = compared
        if step.action is Action.REPLICATE:
            self.schedule.reopen(index, step.owners, self.now)
        elif step.action in (Action.ACCEPT, Action.COMMIT):
            assert step.answer is not None or step.action is Action.COMMIT
            self.commit(index, step.answer or answer)
        for wrong in step.wrong:
            for key, owners in verifier.caught(wrong.node_id, wrong.owner, ACTIVITY):
                self.schedule.reopen(key[1], owners, self.now)

    def commit(self, index: int, answer: Answer) -> None:
        assert index not in self.committed, "committed twice"
        self.committed[index] = answer.value


def run(
    answers: dict[str, tuple[str, object]], count: int, seed: int = 5, **knobs: float
) -> tuple[dict[int, object], Verifier, int]:
    """Run the map; the committed values, the verifier, and the items computed."""
    farm = Farm(answers, count, seed, **knobs)
    farm.run()
    return farm.committed, farm.verifier, farm.computed


def test_honest_volunteers_verify_each_other_and_become_reliable() -> None:
    committed, verifier, computed = run(
        {"a": ("alice", "right"), "b": ("bob", "right"), "c": ("carol", "right")}, 300
    )
    assert committed == {i: i * i for i in range(300)}
    assert all(verifier.book.record(n, ACTIVITY).state is TrustState.RELIABLE for n in "abc")
    assert computed < 300 * 1.5, "reliable nodes' work is mostly taken unchecked"
    assert verifier.costs.replicas == computed - 300


@pytest.mark.parametrize("seed", range(5))
def test_a_random_cheater_is_caught_and_nothing_wrong_is_committed(seed: int) -> None:
    nodes = {"a": ("alice", "right"), "b": ("bob", "right"), "m": ("mallory", "random")}
    committed, verifier, _ = run(nodes, 60, seed=seed)
    assert committed == {i: i * i for i in range(60)}
    assert verifier.book.blocked("m", ACTIVITY)


def test_two_colluding_nodes_of_one_owner_are_outvoted() -> None:
    nodes = {
        "m1": ("mallory", "forged"),
        "m2": ("mallory", "forged"),
        "a": ("alice", "right"),
        "b": ("bob", "right"),
    }
    committed, verifier, _ = run(nodes, 40)
    assert committed == {i: i * i for i in range(40)}
    assert verifier.book.blocked("m1", ACTIVITY) and verifier.book.blocked("m2", ACTIVITY)


@settings(max_examples=60, deadline=None)
@given(
    cheats=st.lists(
        st.tuples(st.sampled_from(["mallory", "trudy", "eve"]), st.sampled_from(["random", "own"])),
        max_size=3,
    ),
    honest=st.integers(2, 3),
    count=st.integers(1, 30),
    seed=st.integers(0, 1000),
)
def test_with_every_result_checked_nothing_wrong_is_ever_committed(
    cheats: list[tuple[str, str]], honest: int, count: int, seed: int
) -> None:
    """Honest volunteers of two or three owners, and cheaters of other owners (random answers,
    or a forgery of their own owner's): when every result is checked (no adaptive replication),
    every committed value is right. (Cheaters of different owners that forge the same value
    could outvote the honest: collusion across owners is what replication cannot see.)"""
    answers: dict[str, tuple[str, object]] = {
        f"h{k}": (f"honest{k}", "right") for k in range(honest)
    }
    for number, (owner, how) in enumerate(cheats):
        answers[f"c{number}"] = (owner, "random" if how == "random" else f"forged by {owner}")
    farm = Farm(answers, count, seed, replicate_share=1.0, replicate_floor=1.0)
    farm.run()
    assert all(value == index * index for index, value in farm.committed.items())
    # An item may fail when four owners disagree (three kinds of cheat and one honest answer).
    assert count - len(farm.committed) == farm.verifier.costs.failed
    if len({owner for owner, _ in cheats}) < 2:
        assert len(farm.committed) == count, "one cheating owner cannot make an item fail"


def test_an_unsettled_disagreement_has_the_results_a_node_held_unchecked_verified_after_all() -> (
    None
):
    """A reliable node in a disagreement nobody settles is new again, and what it had returned
    unchecked is put under verification rather than committed as its map ends."""
    verifier = Verifier(
        VerificationSettings(
            reliable_after=1, replicate_share=0.0, replicate_floor=0.0, max_answers=2
        ),
        random.Random(1),
    )
    steady, checker, other = Answer("r", "rita", value=1), Answer("s", "sam", value=1), "t"
    assert verifier.answered(("map_a", 0), ACTIVITY, steady).action is Action.REPLICATE
    assert verifier.answered(("map_a", 0), ACTIVITY, checker).action is Action.COMPARE
    accepted = verifier.compared(("map_a", 0), checker, [steady], [True])
    assert accepted is not None and accepted.action is Action.ACCEPT
    assert verifier.book.record("r", ACTIVITY).state is TrustState.RELIABLE
    unchecked = Answer("r", "rita", value="held")
    assert verifier.answered(("map_b", 5), ACTIVITY, unchecked).action is Action.HOLD

    first = Answer(other, "tom", value=7)
    assert verifier.answered(("map_c", 0), ACTIVITY, first).action is Action.REPLICATE
    disputed = Answer("r", "rita", value=8)
    assert verifier.answered(("map_c", 0), ACTIVITY, disputed).action is Action.COMPARE
    failed = verifier.compared(("map_c", 0), disputed, [first], [False])
    assert failed is not None and failed.action is Action.FAIL

    assert verifier.book.record("r", ACTIVITY).state is TrustState.NEW
    assert verifier.release("map_b") == [], "committed unchecked after the node lost its trust"
    assert failed.reopen == ((("map_b", 5), frozenset({"rita"})),)
    assert verifier.representatives(("map_b", 5)) == [unchecked]
    replica = Answer("s", "sam", value="held")
    step = verifier.compared(("map_b", 5), replica, [unchecked], [True])
    assert step is not None and step.action is Action.ACCEPT and step.answer == unchecked
