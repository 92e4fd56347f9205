"""The words for a job's status and a node's state, defined once for every layer.

Their values are what the API, the CLI, the dashboard and the store say: lowercase, unchanged on
the wire. What the words imply (which statuses have ended, which can run again) are properties
here, so no layer keeps its own list. Which state a node is in is decided in one place,
`witengine.hub.dispatch.view.node_state`.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life: queued, running or paused, then one of the three ends."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        """Completed, failed or cancelled: nothing more will happen to the job."""
        return self in _ENDED

    @property
    def rerunnable(self) -> bool:
        """Failed or cancelled: `wit rerun` can run its unfinished items again."""
        return self in _RERUNNABLE


_ENDED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_RERUNNABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


class NodeState(StrEnum):
    """What a node is doing, as the hub sees it."""

    IDLE = "idle"  # connected, and may be given work
    BUSY = "busy"  # connected and running items
    SUSPENDED = "suspended"  # its owner is back: the work it holds is frozen, kept, not lost
    UNAVAILABLE = "unavailable"  # outside its hours, on battery, over its load: given no work
    DRAINING = "draining"  # drained: finishing what it holds, given nothing new
    DRAINED = "drained"  # drained, with nothing left to finish
    UNRESPONSIVE = "unresponsive"  # connected, but not heard from for a whole lease
    OFFLINE = "offline"  # not connected

    @property
    def online(self) -> bool:
        """Connected to the hub, whatever it is doing."""
        return self is not NodeState.OFFLINE

    @property
    def takes_work(self) -> bool:
        """The hub may give it new batches."""
        return self in (NodeState.IDLE, NodeState.BUSY)


class Availability(StrEnum):
    """What a node's owner policy lets it do now, as the node reports it (`NodeStatus`)."""

    AVAILABLE = "available"  # it may run work
    SUSPENDED = "suspended"  # its owner is back: what it holds is frozen, kept for later
    UNAVAILABLE = "unavailable"  # outside its hours, on battery, over its load: no work now
