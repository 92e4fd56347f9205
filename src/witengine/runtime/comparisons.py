"""How two results of one activity are compared, as its plugin declares it: a node whose pool is
untrusted has its results checked against another node's before they count, and an activity
without a declared comparison never runs on such a node.

Declarations only: the hub does the comparing (`witengine.hub.comparing`). Pure values, checked
where the plugin declares them (`comparison_problem`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exact:
    """Two results agree when they are the same value: what a deterministic activity gives
    (a blob in them must then have the same bytes)."""

    def __repr__(self) -> str:
        return "EXACT"


EXACT = Exact()


@dataclass(frozen=True)
class ImagesWithin:
    """Two results agree when every image file in them is the same size and nearly the same
    pixels, and everything else in them is equal: for rendered frames, which differ slightly
    from machine to machine.

    Pixels are compared channel by channel in 8 bits (0-255): a pixel differs when one of its
    channels differs by more than `level`. The images agree when in every 64x64 square of them
    at most `share` of its 4096 pixels differ (0.001: 4 pixels); the squares at the right and
    bottom edges, cut short, are allowed as many as a whole one.
    """

    level: int = 2
    share: float = 0.001


@dataclass(frozen=True)
class Agreeing:
    """Two results agree when the plugin's function says so: `function(first, second)` gets
    them as the activity returned them (its Python values) and returns a truth value."""

    function: Callable[[Any, Any], bool]


Comparison = Exact | ImagesWithin | Agreeing


def comparison_of(declared: object) -> Comparison | None:
    """What an activity's `compare=` declares: EXACT, an ImagesWithin, or a function of two
    results; None for anything else (`comparison_problem` says why)."""
    if isinstance(declared, Exact | ImagesWithin | Agreeing):
        return declared
    if callable(declared):
        return Agreeing(declared)
    return None


def comparison_problem(declared: object) -> str | None:
    """What is wrong with a `compare=` declaration, in words; None when nothing is."""
    if isinstance(declared, ImagesWithin):
        level, share = declared.level, declared.share
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 254:
            return f"ImagesWithin's level is a whole number of 8-bit steps, 0 to 254, not {level!r}"
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
            return (
                f"ImagesWithin's share is the part of a square's pixels that may differ, at "
                f"least 0 and below 1 (0.001 is 4 pixels of a 64x64 square), not {share!r}"
            )
        return None
    if isinstance(declared, Exact):
        return None
    function = declared.function if isinstance(declared, Agreeing) else declared
    if not callable(function):
        return (
            f"compare must be EXACT, ImagesWithin(…) or a function of two results, not {declared!r}"
        )
    try:
        inspect.signature(function).bind(None, None)
    except TypeError:
        return "its compare function must take two results (first, second)"
    except ValueError:  # no signature to read (some built-ins): trust it
        pass
    return None
