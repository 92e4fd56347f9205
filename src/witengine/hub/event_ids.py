"""Where a reconnecting event stream goes on: the `Last-Event-ID` header, read.

A browser's EventSource sends back the last id it saw, which the hub gave it: a sequence number.
Anything else came from someone else, and is refused with a 400 naming the header; it must not
reach `int()`, which takes '²' for a digit and refuses a text of over 4,300 of them.
"""

from __future__ import annotations

from fastapi import HTTPException, status

from witengine.protocol import MAX_INT64

_DIGITS = len(str(MAX_INT64))


def resume_after(last_event_id: str | None, default: int) -> int:
    """The sequence number a stream goes on after: the header's, else `default`."""
    if not last_event_id:
        return default
    if not (last_event_id.isascii() and last_event_id.isdigit()):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the Last-Event-ID header must be an event's number, not {last_event_id[:40]!r}",
        )
    significant = last_event_id.lstrip("0")
    if len(significant) > _DIGITS:  # past any event there will be
        return MAX_INT64
    return min(int(last_event_id), MAX_INT64)
