"""A predicted duration in words, as people read an ETA: "about 2 min left".

One wording for the dashboard and the CLI. A prediction is rough, so it is rounded to what a
person can use (seconds under a minute, minutes under an hour, then hours and minutes); unknown
is a dash. Pure: no clock.
"""

from __future__ import annotations

import math

UNKNOWN = "—"


def time_left(seconds: float | None) -> str:
    """How long until something ends, in words; "—" when it is not known."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return UNKNOWN
    if seconds < 10:
        return "a few seconds left"
    fives = round(seconds / 5) * 5
    if fives < 60:
        return f"about {fives} s left"
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"about {hours} h {minutes} min left" if minutes else f"about {hours} h left"
    days, hours = divmod(hours, 24)
    return f"about {days} d {hours} h left" if hours else f"about {days} d left"
