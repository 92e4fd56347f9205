"""What a map's schedule knows of its nodes' owners: when each node's window closes, which nodes
are on probation since their owner came back, and which left the candidates when.

A node whose owner came back (a `Candidate.suspended_at` not seen before) is on probation: it is
planned at `discount` of its rate until it has delivered `proof_seconds` of results since. A
node that holds batches and leaves the candidates (suspended, out of its window, drained) is
absent from then on, until it is a candidate again or lost. The ledger asks; nothing here knows
of batches or rates. Pure: times are the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class OwnerFacts:
    """Windows, probations and absences of the nodes of one map."""

    def __init__(self, discount: float, proof_seconds: float) -> None:
        self.discount = discount
        self.proof_seconds = proof_seconds
        self._windows: dict[str, float] = {}  # node -> when its window of work closes
        self._suspensions: dict[str, float] = {}  # node -> when its owner last came back
        self._doubted: dict[str, float] = {}  # nodes on probation -> seconds delivered since
        self._absent: dict[str, float] = {}  # nodes that left the candidates -> when

    def learn(self, node_id: str, window_end: float | None, suspended_at: float | None) -> bool:
        """A candidate's window and suspension; whether it has just been put on probation."""
        if window_end is None:
            self._windows.pop(node_id, None)
        else:
            self._windows[node_id] = window_end
        if suspended_at is None or self._suspensions.get(node_id) == suspended_at:
            return False
        self._suspensions[node_id] = suspended_at
        if self.discount >= 1.0:
            return False
        self._doubted[node_id] = 0.0
        return True

    def window_end(self, node_id: str) -> float | None:
        return self._windows.get(node_id)

    def windows(self, node_ids: Iterable[str]) -> dict[str, float]:
        """The window ends of those of these nodes that have one."""
        windows = self._windows
        return {n: windows[n] for n in node_ids if n in windows} if windows else {}

    def closed(self, node_id: str, now: float) -> bool:
        """Its window has closed by `now`."""
        return self._windows.get(node_id, math.inf) <= now

    @property
    def doubting(self) -> bool:
        """Some node is on probation."""
        return bool(self._doubted)

    def doubted(self, node_ids: Iterable[str]) -> set[str]:
        """The nodes among these on probation."""
        return self._doubted.keys() & set(node_ids)

    def planning(self, node_id: str, rate: float) -> float:
        """The rate to plan a node with: its rate, discounted while it is on probation."""
        return rate * self.discount if node_id in self._doubted else rate

    def delivered(self, node_id: str, seconds: float) -> bool:
        """The node delivered a result of `seconds`; whether that ended its probation."""
        delivered = self._doubted.get(node_id)
        if delivered is None:
            return False
        if delivered + seconds < self.proof_seconds:
            self._doubted[node_id] = delivered + seconds
            return False
        del self._doubted[node_id]
        return True

    def on_probation(self, node_id: str) -> bool:
        return node_id in self._doubted

    def left(self, node_id: str, now: float) -> None:
        """The node is no longer a candidate."""
        self._absent[node_id] = now

    def back(self, node_id: str) -> bool:
        """The node is a candidate (again); whether it had left."""
        return self._absent.pop(node_id, None) is not None

    def absent_since(self, node_id: str, otherwise: float) -> float:
        """When the node left the candidates, or `otherwise` if it has not."""
        return self._absent.get(node_id, otherwise) if self._absent else otherwise
