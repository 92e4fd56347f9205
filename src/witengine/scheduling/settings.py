"""The farm's scheduling knobs, in one frozen object passed to every map's schedule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulerSettings:
    """How the scheduler trades overhead, waiting and duplicated work; defaults suit a LAN."""

    dispatch_overhead: float = 0.002  # seconds a batch costs beyond its work: messages, start-up
    min_batch_overheads: float = 50.0  # Adaptive: a batch runs at least this many overheads
    min_lease: float = 30.0  # seconds: a short batch still gets time for a slow network
    max_lease: float = 3600.0  # seconds: Adaptive sizes batches to fit within it
    lease_factor: float = 3.0  # a lease is the batch's predicted time times this
    duplicate_limit: float = 0.10  # Adaptive: item copies sent as duplicates, share of the map
    blocklist_after: int = 3  # failures of a (node, plugin) pair in a job before it is blocked
    fail_after_nodes: int = 3  # distinct nodes an item fails on before it fails the map
    suspended_discount: float = 0.25  # a node whose owner came back is planned at this share …
    proof_seconds: float = 300.0  # … of its rate until it delivers this many seconds of results
    batch_prefix: str = "batch"  # batch ids read `<prefix>_<map>_<n>`; unique per hub run

    def __post_init__(self) -> None:
        if self.dispatch_overhead < 0 or self.min_batch_overheads < 0:
            raise ValueError("dispatch overhead and minimum batch must not be negative")
        if not 0 < self.min_lease <= self.max_lease:
            raise ValueError("leases need 0 < min_lease <= max_lease")
        if self.lease_factor < 1:
            raise ValueError("the lease factor must be at least 1")
        if not 0 <= self.duplicate_limit <= 1:
            raise ValueError("the duplicate limit is a share between 0 and 1")
        if not 0 < self.suspended_discount <= 1 or self.proof_seconds < 0:
            raise ValueError("the suspended discount is a share in (0, 1], proof_seconds >= 0")
        if self.blocklist_after < 1 or self.fail_after_nodes < 1:
            raise ValueError("blocklist_after and fail_after_nodes must be at least 1")

    @property
    def min_batch_seconds(self) -> float:
        """The shortest batch worth sending: its overhead stays a small share of it."""
        return self.dispatch_overhead * self.min_batch_overheads

    def lease_for(self, predicted_seconds: float) -> float:
        """The lease of a batch predicted to run `predicted_seconds`."""
        wanted = predicted_seconds * self.lease_factor + self.dispatch_overhead
        return min(max(wanted, self.min_lease), self.max_lease)
