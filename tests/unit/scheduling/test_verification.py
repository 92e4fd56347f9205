"""The pure verification core: the quorum on an item's answers and each node's trust record."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.core import Candidate, Verdict
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.strategy import Strategy
from witengine.scheduling.verification import (
    Answer,
    Ruling,
    TrustBook,
    TrustState,
    VerificationSettings,
    Votes,
)

SETTINGS = VerificationSettings()
ACTIVITY = "Compute.Square"


def vote(votes: Votes, answer: Answer) -> Ruling:
    """Add an answer, comparing values exactly (the driver's job)."""
    agrees = [rep.value == answer.value for rep in votes.representatives()]
    return votes.add(answer, agrees).ruling


def untrusted(node: str, value: object, owner: str = "") -> Answer:
    return Answer(node, owner or node, trusted=False, value=value)


def test_two_owners_that_agree_accept_an_item() -> None:
    votes = Votes(SETTINGS)
    assert vote(votes, untrusted("a", 4)) is Ruling.REPLICATE
    tally = votes.add(untrusted("b", 4), [True])
    assert tally.ruling is Ruling.ACCEPT
    assert tally.accepted is not None and tally.accepted.value == 4
    assert tally.wrong == ()


def test_a_third_answer_decides_a_disagreement_and_names_the_wrong_node() -> None:
    votes = Votes(SETTINGS)
    vote(votes, untrusted("a", 4))
    assert vote(votes, untrusted("b", 5)) is Ruling.REPLICATE
    assert votes.owners == {"a", "b"}
    tally = votes.add(untrusted("c", 4), [True, False])
    assert tally.ruling is Ruling.ACCEPT
    assert [a.node_id for a in tally.wrong] == ["b"]
    assert {a.node_id for a in tally.agreeing} == {"a", "c"}


def test_two_nodes_of_one_owner_never_make_a_quorum() -> None:
    votes = Votes(SETTINGS)
    vote(votes, untrusted("mallory_1", 666, owner="mallory"))
    assert vote(votes, untrusted("mallory_2", 666, owner="mallory")) is Ruling.REPLICATE
    assert votes.owners == {"mallory"}
    tally = votes.add(untrusted("honest", 4), [False])
    assert tally.ruling is Ruling.REPLICATE
    tally = votes.add(untrusted("honest_2", 4), [False, True])
    assert tally.ruling is Ruling.ACCEPT
    assert {a.node_id for a in tally.wrong} == {"mallory_1", "mallory_2"}


def test_a_trusted_answer_alone_settles_the_item_against_the_untrusted_one() -> None:
    votes = Votes(SETTINGS)
    vote(votes, untrusted("a", 5))
    tally = votes.add(Answer("studio", "studio", trusted=True, value=4), [False])
    assert tally.ruling is Ruling.ACCEPT
    assert tally.accepted is not None and tally.accepted.value == 4
    assert [a.node_id for a in tally.wrong] == ["a"]


def test_an_item_fails_after_the_limit_of_answers_without_a_quorum() -> None:
    votes = Votes(SETTINGS)
    for value, node in enumerate("abc"):
        assert vote(votes, untrusted(node, value)) is Ruling.REPLICATE
    tally = votes.add(untrusted("d", 9), [False, False, False])
    assert tally.ruling is Ruling.FAIL
    assert "4 nodes disagree" in tally.reason and "from d" in tally.reason
    assert votes.add(untrusted("e", 0), [True, False, False, False]) is tally  # decided


def test_the_comparisons_must_match_the_groups() -> None:
    with pytest.raises(ValueError, match="0 comparisons for 1 groups"):
        votes = Votes(SETTINGS)
        vote(votes, untrusted("a", 1))
        votes.add(untrusted("b", 1), [])


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="quorum"):
        VerificationSettings(quorum=1)
    with pytest.raises(ValueError, match="replicate_share"):
        VerificationSettings(replicate_share=1.5)


def book(seed: int = 7, **knobs: float) -> TrustBook:
    return TrustBook(VerificationSettings(**knobs), random.Random(seed))  # type: ignore[arg-type]


def test_a_node_becomes_reliable_after_a_run_of_agreements_and_is_then_checked_less() -> None:
    trust = book()
    changes = [trust.agreed("a", ACTIVITY) for _ in range(SETTINGS.reliable_after)]
    assert [c.after for c in changes if c is not None] == [TrustState.RELIABLE]
    assert trust.record("a", ACTIVITY).accepted == SETTINGS.reliable_after
    checked = sum(trust.check("a", ACTIVITY) for _ in range(2000))
    assert 100 < checked < 300  # about 10 %
    assert trust.check("b", ACTIVITY) and trust.record("b", ACTIVITY).state is TrustState.NEW


def test_the_share_checked_shrinks_with_the_record_down_to_its_floor() -> None:
    trust = book()
    for _ in range(20):
        trust.agreed("a", ACTIVITY)
    assert trust.replicate_share(trust.record("a", ACTIVITY)) == pytest.approx(0.05)
    for _ in range(1000):
        trust.agreed("a", ACTIVITY)
    assert trust.replicate_share(trust.record("a", ACTIVITY)) == SETTINGS.replicate_floor


def test_a_wrong_answer_blocks_the_node_for_the_activity_only() -> None:
    trust = book()
    for _ in range(12):
        trust.agreed("a", ACTIVITY)
    change = trust.wrong("a", ACTIVITY)
    assert change is not None and (change.before, change.after) == (
        TrustState.RELIABLE,
        TrustState.BLOCKED,
    )
    assert trust.blocked("a", ACTIVITY) and not trust.blocked("a", "Render.Frame")
    assert trust.record("a", ACTIVITY).rejected == 1
    assert trust.agreed("a", ACTIVITY) is None  # blocked stays blocked


def test_an_unsettled_disagreement_makes_a_reliable_node_new_again() -> None:
    trust = book()
    for _ in range(10):
        trust.agreed("a", ACTIVITY)
    change = trust.undecided("a", ACTIVITY)
    assert change is not None and change.after is TrustState.NEW
    assert trust.record("a", ACTIVITY).streak == 0


def test_a_failed_spot_check_blocks_the_node_for_every_activity() -> None:
    trust = book()
    trust.spot_passed("a", ACTIVITY)
    change = trust.spot_failed("a", ACTIVITY)
    assert change is not None and change.activity == "*"
    assert trust.blocked("a", "Render.Frame") and trust.blocked("a", ACTIVITY)
    record = trust.record("a", ACTIVITY)
    assert (record.spot_passed, record.spot_failed) == (1, 1)
    assert not trust.spot_check("a", ACTIVITY)


def test_the_same_seed_makes_the_same_choices() -> None:
    first, second = book(seed=3, spot_check_share=0.5), book(seed=3, spot_check_share=0.5)
    assert [first.spot_check("a", ACTIVITY) for _ in range(50)] == [
        second.spot_check("a", ACTIVITY) for _ in range(50)
    ]


# ------------------------------------------------------------ replicas in the schedule


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_replica_goes_only_to_a_node_of_another_owner(strategy: Strategy) -> None:
    scheduler = Scheduler(SchedulerSettings(min_lease=5.0))
    nodes = [Candidate("m1", owner="mallory"), Candidate("m2", owner="mallory")]
    schedule = scheduler.schedule("job_1", ACTIVITY, "compute", [1.0] * 4, strategy, nodes, now=0)
    grant = schedule.request(nodes[0], 0.0)
    assert grant is not None
    for index in grant.indices:
        assert schedule.result(grant.batch_id, index, ok=True, now=1.0).verdict is Verdict.COMMIT
    schedule.batch_ended(grant.batch_id, 1.0)
    schedule.reopen(grant.indices[0], {"mallory"}, 1.0)
    assert not schedule.done
    assert schedule.replicas_waiting() == {grant.indices[0]: frozenset({"mallory"})}
    assert grant.indices[0] in schedule.snapshot().pending
    for _ in range(6):  # mallory's nodes take the rest, never the replica
        for node in nodes:
            other = schedule.request(node, 2.0)
            assert other is None or grant.indices[0] not in other.indices
            if other is not None:
                for index in other.indices:
                    schedule.result(other.batch_id, index, ok=True, now=2.0)
                schedule.batch_ended(other.batch_id, 2.0)
    assert not schedule.done and not schedule.may_run(grant.indices[0], "m2")
    assert schedule.remaining_seconds(2.0) is not None
    honest = Candidate("h", owner="honest")
    schedule.candidates_changed([*nodes, honest], 2.0)
    replica = schedule.request(honest, 3.0)
    assert replica is not None and replica.indices == (grant.indices[0],)
    schedule.expire(3.0 + replica.lease_seconds)  # lost: it waits for another owner again
    assert schedule.request(nodes[1], 60.0) is None
    again = schedule.request(honest, 60.0)
    assert again is not None and again.indices == replica.indices
    assert schedule.result(again.batch_id, replica.indices[0], ok=True, now=61.0).verdict is (
        Verdict.COMMIT
    )
    assert schedule.done


def test_only_a_committed_item_reopens() -> None:
    schedule = Scheduler().schedule(
        "job_1", ACTIVITY, "compute", [1.0], Strategy.ADAPTIVE, [Candidate("a")], now=0
    )
    with pytest.raises(ValueError, match="not committed"):
        schedule.reopen(0, {"a"}, 0.0)


def test_a_replica_goes_to_a_node_beyond_max_nodes_when_no_active_one_may_take_it() -> None:
    scheduler = Scheduler(SchedulerSettings(min_lease=5.0))
    scheduler.rates.benchmark("fast", ACTIVITY, 10.0)
    scheduler.rates.benchmark("slow", ACTIVITY, 1.0)
    fast, slow = Candidate("fast", owner="mallory"), Candidate("slow", owner="honest")
    schedule = scheduler.schedule(
        "job_1", ACTIVITY, "compute", [1.0], Strategy.ADAPTIVE, [fast, slow], now=0, max_nodes=1
    )
    assert schedule.request(slow, 0.0) is None, "only the fastest node is active"
    grant = schedule.request(fast, 0.0)
    assert grant is not None
    schedule.result(grant.batch_id, 0, ok=True, now=1.0)
    schedule.batch_ended(grant.batch_id, 1.0)
    schedule.reopen(0, {"mallory"}, 1.0)
    assert schedule.request(fast, 1.0) is None
    replica = schedule.request(slow, 1.0)
    assert replica is not None and replica.indices == (0,)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from("xyz"), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_an_accepted_value_has_two_owners_or_a_trusted_node_behind_it(
    answers: list[tuple[str, str, bool]],
) -> None:
    """Answers (owner, value, trusted) in any order: whatever is accepted was answered by two
    owners, or by a trusted node, and the wrong ones are exactly those that differ from it."""
    votes = Votes(SETTINGS)
    tally = None
    for number, (owner, value, trusted) in enumerate(answers):
        tally = votes.add(
            Answer(f"node_{number}", owner, trusted, value),
            [rep.value == value for rep in votes.representatives()],
        )
        if tally.ruling is not Ruling.REPLICATE:
            break
    assert tally is not None
    given_ = votes.answers
    assert len(given_) <= SETTINGS.max_answers
    if tally.ruling is Ruling.ACCEPT:
        assert tally.accepted is not None
        value = tally.accepted.value
        behind = [a for a in given_ if a.value == value]
        assert any(a.trusted for a in behind) or len({a.owner for a in behind}) >= 2
        assert {a.node_id for a in tally.wrong} == {a.node_id for a in given_ if a.value != value}
    elif tally.ruling is Ruling.FAIL:
        assert len(given_) == SETTINGS.max_answers and not any(a.trusted for a in given_)
    else:
        assert not any(a.trusted for a in given_)
