"""A node's state, decided in one place from what the hub knows of it."""

from __future__ import annotations

import pytest

from witengine.hub.dispatch import NodeFacts, node_state, state_reason
from witengine.protocol.states import Availability, NodeState

SUSPENDED = Availability.SUSPENDED
UNAVAILABLE = Availability.UNAVAILABLE


@pytest.mark.parametrize(
    ("facts", "state"),
    [
        (NodeFacts(), NodeState.OFFLINE),
        (NodeFacts(connected=False, drained=True, running=3), NodeState.OFFLINE),
        (NodeFacts(connected=True), NodeState.IDLE),
        (NodeFacts(connected=True, running=2), NodeState.BUSY),
        (NodeFacts(connected=True, drained=True, running=2), NodeState.DRAINING),
        (NodeFacts(connected=True, drained=True), NodeState.DRAINED),
        (NodeFacts(connected=True, silent=True, running=2), NodeState.UNRESPONSIVE),
        (NodeFacts(connected=True, drained=True, silent=True), NodeState.DRAINED),
        (NodeFacts(connected=True, availability=SUSPENDED, running=2), NodeState.SUSPENDED),
        (NodeFacts(connected=True, availability=UNAVAILABLE), NodeState.UNAVAILABLE),
        (NodeFacts(connected=False, availability=SUSPENDED), NodeState.OFFLINE),
        (NodeFacts(connected=True, drained=True, availability=SUSPENDED), NodeState.DRAINED),
        (NodeFacts(connected=True, silent=True, availability=SUSPENDED), NodeState.UNRESPONSIVE),
    ],
)
def test_a_node_s_state_follows_from_its_facts(facts: NodeFacts, state: NodeState) -> None:
    assert node_state(facts) is state


def test_the_reason_is_the_node_s_own_only_when_its_owner_policy_decided_its_state() -> None:
    back = "the owner is back"
    assert state_reason(NodeFacts(connected=True, availability=SUSPENDED, reason=back)) == back
    assert state_reason(NodeFacts(connected=False, availability=SUSPENDED, reason=back)) == ""
    assert state_reason(NodeFacts(connected=True, reason="stale")) == ""


def test_only_an_offline_node_is_not_online_and_only_idle_or_busy_ones_take_work() -> None:
    assert [s for s in NodeState if not s.online] == [NodeState.OFFLINE]
    assert [s for s in NodeState if s.takes_work] == [NodeState.IDLE, NodeState.BUSY]


def test_every_state_has_a_badge_colour_on_the_dashboard() -> None:
    from witengine.hub.dashboard.pages import STATIC

    css = (STATIC / "dashboard.css").read_text()
    missing = [state.value for state in NodeState if f".badge-{state.value}" not in css]
    assert missing == []
