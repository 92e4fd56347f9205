"""The site's policy for its parent (`wit hub --parent-share`): how much of its nodes the parent
is offered, and when.

A share is a fraction (`0.5`) or a percentage (`50%`) of the site's slots and rates (see
`offer`), optionally only at night: `nights` (all of them) or `50% nights` offers them in the
office's nights, Monday to Friday from 20:00 to 08:00 and all weekend, the site's local time,
and nothing by day. Outside those hours the site tells its parent it is unavailable (a
`NodeStatus`, as a node under an owner policy does, with the end of its window and the week's
shares), so the parent plans no batch there; batches it holds when the night ends run on to
their end.

Pure: the moment is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from witengine.node.hours import Window, parse_window, standing, week_shares
from witengine.protocol import NodeStatus
from witengine.protocol.states import Availability

NIGHTS = ("Mon-Fri 20:00-08:00", "Sat-Sun")  # the office at night


@dataclass(frozen=True)
class ParentShare:
    """A part of the site's nodes (0 to 1), and the hours it is offered in (None: always)."""

    share: float = 1.0
    hours: tuple[Window, ...] | None = None

    def status(self, now: datetime) -> NodeStatus:
        """The site's availability to its parent at the aware moment `now`."""
        if self.hours is None:
            return NodeStatus()
        tz = now.tzinfo
        assert tz is not None, "the hours are reckoned on aware datetimes"
        where = standing(self.hours, now)
        written = ", ".join(window.text for window in self.hours)
        week = week_shares(self.hours, tz, now)
        policy = {"parent-share": f"{self.share:.0%} in {written}"}
        if where.open:
            seconds = (where.closes - now).total_seconds() if where.closes else None
            return NodeStatus(
                availability=Availability.AVAILABLE,
                reason=f"the site's nodes are the parent's in {written}",
                window_seconds=max(0.0, seconds) if seconds is not None else None,
                policy=policy,
                week=week,
            )
        opens = f" (from {where.opens:%a %H:%M})" if where.opens else ""
        return NodeStatus(
            availability=Availability.UNAVAILABLE,
            reason=f"the site's nodes are the parent's only in {written}{opens}",
            policy=policy,
            week=week,
        )


def parent_share(text: str) -> ParentShare:
    """`--parent-share` read: `0.5`, `50%`, `nights`, or `50% nights`; ValueError otherwise."""
    words = text.split()
    nights = bool(words) and words[-1].lower() == "nights"
    if nights:
        words = words[:-1]
    written = " ".join(words)
    if not written:
        if not nights:
            raise ValueError(_unreadable(text))
        share = 1.0
    else:
        try:
            share = float(written.removesuffix("%")) / (100 if written.endswith("%") else 1)
        except ValueError:
            raise ValueError(_unreadable(text)) from None
    if not 0 < share <= 1:
        raise ValueError(f"{text!r}: the parent's share must be above 0 and at most 1 (100%)")
    hours = tuple(parse_window(window) for window in NIGHTS) if nights else None
    return ParentShare(share, hours)


def _unreadable(text: str) -> str:
    return (
        f"{text!r} is not a share of the site's nodes: give a fraction such as 0.5, a "
        "percentage such as 50%, or either followed by nights (the office's nights and "
        "weekends only): nights, 50% nights"
    )
