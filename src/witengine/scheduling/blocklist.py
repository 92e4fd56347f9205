"""Blocklists: (node, plugin) pairs that failed too often in a job get no more of its work.

A node whose plugin is broken (a missing library, a bad GPU driver) fails every item it gets;
after `after` failures in one job the pair is blocked for the rest of that job, so the job's
items go to nodes that can run them. Kept per job: a later job gives the pair another chance.
"""

from __future__ import annotations


class Blocklist:
    """Failures per (job, node, plugin), and the pairs blocked in each job."""

    def __init__(self, after: int = 3) -> None:
        self.after = after
        self._failures: dict[str, dict[tuple[str, str], int]] = {}
        self._blocked: dict[str, set[tuple[str, str]]] = {}

    def failed(self, job_id: str, node_id: str, plugin: str) -> bool:
        """Count one failure; True when it is the one that blocks the pair."""
        counts = self._failures.setdefault(job_id, {})
        pair = (node_id, plugin)
        counts[pair] = counts.get(pair, 0) + 1
        if counts[pair] == self.after:
            self._blocked.setdefault(job_id, set()).add(pair)
            return True
        return False

    def blocked(self, job_id: str, node_id: str, plugin: str) -> bool:
        blocked = self._blocked.get(job_id)
        return blocked is not None and (node_id, plugin) in blocked

    def pairs(self, job_id: str) -> frozenset[tuple[str, str]]:
        """The (node, plugin) pairs blocked in the job."""
        return frozenset(self._blocked.get(job_id, ()))

    def of_node(self, node_id: str) -> list[tuple[str, str]]:
        """The (job, plugin) pairs a node is blocked from, by job (costs O(jobs with blocks))."""
        return sorted(
            (job_id, plugin)
            for job_id, pairs in self._blocked.items()
            for node, plugin in pairs
            if node == node_id
        )

    def forget(self, job_id: str) -> None:
        """The job ended: drop its counts."""
        self._failures.pop(job_id, None)
        self._blocked.pop(job_id, None)
