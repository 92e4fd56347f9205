"""The strategies a script may choose for a `Grid.ForEach`; their values are the names scripts
write (`Grid.ForEach(x in items, "Balanced")`)."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    """How Grid.ForEach spreads tasks over nodes."""

    ADAPTIVE = "Adaptive"
    BALANCED = "Balanced"
    QUEUED = "Queued"
