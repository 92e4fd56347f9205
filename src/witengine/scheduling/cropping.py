"""Which region of a frame a trusted node re-renders to check an untrusted node's render of it
(Golem's method): a random rectangle of about a given share of the frame, of the frame's
proportions, so that a node cannot guess which part of its frame will be checked.

Pure: the randomness is a `random.Random` passed in (the verifier's), so a seeded run repeats.

    crop = choose_crop(1920, 1080, 0.05, random.Random(seed))   # Crop(x, y, width, height)
    crop.to_json() / Crop.from_json(data)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

LEAST_SIDE = 16  # pixels: a smaller crop shows too little of the frame to catch a shift


@dataclass(frozen=True)
class Crop:
    """A rectangle of a frame in whole pixels, from its top-left corner."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.x < 0 or self.y < 0 or self.width < 1 or self.height < 1:
            raise ValueError(f"a crop is a rectangle inside a frame, not {self}")

    def inside(self, width: int, height: int) -> bool:
        """Whether the crop lies within a frame of this size."""
        return self.x + self.width <= width and self.y + self.height <= height

    def to_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, data: Any) -> Crop:
        try:
            return cls(*(int(data[name]) for name in ("x", "y", "width", "height")))
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"a crop is {{x, y, width, height}} in pixels, not {data!r}"
            ) from error


def choose_crop(width: int, height: int, share: float, rng: random.Random) -> Crop:
    """A random crop of a width x height frame covering about `share` of its pixels, of the
    frame's proportions, at least `LEAST_SIDE` pixels a side (or the whole side when the frame
    is smaller), placed anywhere in the frame with equal chance."""
    if width < 1 or height < 1:
        raise ValueError(f"a frame is at least 1x1 pixels, not {width}x{height}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"a crop's share of a frame is above 0 and at most 1, not {share}")
    scale = math.sqrt(share)
    crop_width = min(width, max(LEAST_SIDE, round(width * scale)))
    crop_height = min(height, max(LEAST_SIDE, round(height * scale)))
    x = rng.randrange(width - crop_width + 1)
    y = rng.randrange(height - crop_height + 1)
    return Crop(x, y, crop_width, crop_height)
