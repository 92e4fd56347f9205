"""The `Executor` seam: how `Grid.ForEach` and `Grid.Delegate` reach whatever does the work.

The interpreter hands a `MapRequest` (an activity and, per item, its arguments as JSON) to an
executor and gets the results back in input order. It never knows whether the executor is a local
process pool, a hub with nodes, or another engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from witengine.errors import WitError
from witengine.runtime.library import Json
from witengine.runtime.values import ProcessingOptions


@dataclass(frozen=True)
class MapRequest:
    """One distributed map: call `activity` once per item with that item's arguments."""

    activity: str
    items: Sequence[Sequence[Json]]
    options: ProcessingOptions | None = None
    label: str = ""  # the statement, for logs and progress displays
    delegate: bool = False  # Grid.Delegate: one call, on the best node


class ItemFailed(WitError):
    """One item of a map failed and the map gave up; names the item and the cause."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        self.message = message
        super().__init__(f"item {index}: {message}")


Progress = Callable[[int, int], None]  # (items done, items in all)


class Executor(Protocol):
    """Runs the items of a map, anywhere; results come back in input order."""

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        """Every item's JSON result, in input order; ItemFailed when an item cannot succeed."""
        ...
