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
class TrustedCrop:
    """For expensive frames: an untrusted node's rendered image is checked, instead of by a
    second owner's whole render, by a trusted node's render of a random crop of it, about
    `share` of its pixels (Golem's method). The trusted node runs the activity `by`, given the
    item's arguments and then the crop's x, y, width and height in pixels from the frame's top
    left; it returns the crop as an image. The frame is accepted when its pixels in the crop are
    `within` the crop's; a frame whose crop disagrees is rejected and its node caught wrong.
    Two whole results (a spot check's) are compared `within` too.

    Only expensive items are checked so: those whose work (the activity's `estimate`) is at
    least `above`; cheaper ones are replicated and compared `within`, as with ImagesWithin.
    """

    by: str
    share: float = 0.05
    within: ImagesWithin = ImagesWithin()
    above: float = 0.0

    def crops(self, work: float) -> bool:
        """Whether an item of this much work is checked by a crop (else replicated)."""
        return work >= self.above


@dataclass(frozen=True)
class Agreeing:
    """Two results agree when the plugin's function says so: `function(first, second)` gets
    them as the activity returned them (its Python values) and returns a truth value."""

    function: Callable[[Any, Any], bool]


Comparison = Exact | ImagesWithin | TrustedCrop | Agreeing


def comparison_of(declared: object) -> Comparison | None:
    """What an activity's `compare=` declares: EXACT, an ImagesWithin, or a function of two
    results; None for anything else (`comparison_problem` says why)."""
    if isinstance(declared, Exact | ImagesWithin | TrustedCrop | Agreeing):
        return declared
    if callable(declared):
        return Agreeing(declared)
    return None


def comparison_problem(declared: object) -> str | None:
    """What is wrong with a `compare=` declaration, in words; None when nothing is."""
    if isinstance(declared, TrustedCrop):
        share = declared.share
        if not isinstance(declared.by, str) or not declared.by:
            return f"TrustedCrop's by names the activity that renders a crop, not {declared.by!r}"
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            return (
                f"TrustedCrop's share is the part of a frame's pixels a trusted node renders "
                f"again, above 0 and at most 1 (0.05 is a twentieth), not {share!r}"
            )
        above = declared.above
        if isinstance(above, bool) or not isinstance(above, int | float) or not above >= 0:
            return (
                f"TrustedCrop's above is the least work of an item checked by a crop, not {above!r}"
            )
        within: object = declared.within
        if not isinstance(within, ImagesWithin):
            return f"TrustedCrop's within is an ImagesWithin(…), not {within!r}"
        return comparison_problem(within)
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
            "compare must be EXACT, ImagesWithin(…), TrustedCrop(…) or a function of two "
            f"results, not {declared!r}"
        )
    try:
        inspect.signature(function).bind(None, None)
    except TypeError:
        return "its compare function must take two results (first, second)"
    except ValueError:  # no signature to read (some built-ins): trust it
        pass
    return None
