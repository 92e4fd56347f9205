"""The words for a job's status, a node's state and a pool's tier, defined once for every layer.

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


class Admission(StrEnum):
    """Where a node that asked to join without a token (`wit hub --approve-lan`) stands: it
    waits until an admin approves or refuses it; an approved node may later be revoked. Refused
    and revoked nodes are remembered and refused when they ask again. A node that asked is not
    a node of the farm until approved: it has no `NodeState`."""

    PENDING = "pending"  # asked, waiting for an admin
    APPROVED = "approved"  # an admin let it in: it gets its credential when it asks next
    REFUSED = "refused"  # an admin said no before it was ever in
    REVOKED = "revoked"  # it was in, and an admin put it out

    @property
    def shut_out(self) -> bool:
        """Refused or revoked: its next asks are refused, until an admin approves it."""
        return self in (Admission.REFUSED, Admission.REVOKED)


class Availability(StrEnum):
    """What a node's owner policy lets it do now, as the node reports it (`NodeStatus`)."""

    AVAILABLE = "available"  # it may run work
    SUSPENDED = "suspended"  # its owner is back: what it holds is frozen, kept for later
    UNAVAILABLE = "unavailable"  # outside its hours, on battery, over its load: no work now


class PoolTier(StrEnum):
    """How far the nodes of a pool are trusted: `trusted` (the studio's own machines: their
    results count as they come) or `untrusted` (volunteers: their results are verified first)."""

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


DEFAULT_POOL = "default"  # the built-in pool, trusted, which every hub has
# A pool's name: a letter or digit, then letters, digits, `_`, `.` or `-`; 40 characters at most.
POOL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
