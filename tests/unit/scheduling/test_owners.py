"""What a schedule keeps of its nodes' owners: windows, probation after a suspension, absence."""

from __future__ import annotations

from witengine.scheduling.owners import OwnerFacts


def test_a_new_suspension_starts_a_probation_that_enough_results_end() -> None:
    facts = OwnerFacts(discount=0.25, proof_seconds=10.0)
    assert facts.learn("node_a", None, 5.0)
    assert not facts.learn("node_a", None, 5.0), "the same suspension told again"
    assert facts.planning("node_a", 8.0) == 2.0 and facts.doubted(["node_a", "node_b"]) == {
        "node_a"
    }
    assert not facts.delivered("node_a", 6.0)
    assert facts.delivered("node_a", 4.0)
    assert facts.planning("node_a", 8.0) == 8.0 and not facts.doubting
    assert facts.learn("node_a", None, 50.0), "a later suspension"


def test_no_discount_means_no_probation() -> None:
    facts = OwnerFacts(discount=1.0, proof_seconds=10.0)
    assert not facts.learn("node_a", None, 5.0)
    assert not facts.on_probation("node_a")


def test_windows_are_kept_until_a_candidate_says_it_has_none() -> None:
    facts = OwnerFacts(discount=0.25, proof_seconds=10.0)
    facts.learn("node_a", 100.0, None)
    facts.learn("node_b", None, None)
    assert facts.windows(["node_a", "node_b"]) == {"node_a": 100.0}
    assert facts.closed("node_a", 100.0) and not facts.closed("node_a", 99.0)
    assert not facts.closed("node_b", 1e12)
    facts.learn("node_a", None, None)
    assert facts.window_end("node_a") is None


def test_a_node_is_absent_from_when_it_left_until_it_is_back() -> None:
    facts = OwnerFacts(discount=0.25, proof_seconds=10.0)
    assert facts.absent_since("node_a", 7.0) == 7.0
    facts.left("node_a", 3.0)
    assert facts.absent_since("node_a", 7.0) == 3.0
    assert facts.back("node_a") and not facts.back("node_a")
    assert facts.absent_since("node_a", 7.0) == 7.0
