"""How many items a node gets when it asks for work.

`Planner` is the seam the dispatcher calls; `SplitPlanner` is a simple guided split: a node gets
its share of half the remaining items, so batches start large (little overhead) and shrink toward
the end (little waiting for the last batch). Speed-aware planners replace it behind the same call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class Planner(Protocol):
    def batch_size(self, *, remaining: int, node_slots: int, total_slots: int) -> int:
        """Items for the next batch of a node with `node_slots`, of `total_slots` able to help."""
        ...


@dataclass(frozen=True)
class SplitPlanner:
    min_batch: int = 1
    max_batch: int = 2_000

    def batch_size(self, *, remaining: int, node_slots: int, total_slots: int) -> int:
        if remaining <= 0:
            return 0
        share = math.ceil(remaining * node_slots / (2 * max(total_slots, node_slots, 1)))
        return max(1, min(remaining, self.max_batch, max(self.min_batch, share)))
