"""The farm as the scheduler sees it: the rate model, the blocklists, the knobs; and the one
call that opens a map's schedule with the strategy a script chose.

What outlives a map lives here: a node's measured rate carries over to the next map of the same
activity, and a (node, plugin) pair blocked in a job stays blocked for its other maps.
"""

from __future__ import annotations

from collections.abc import Sequence

from witengine.scheduling.blocklist import Blocklist
from witengine.scheduling.core import Candidate, MapSchedule, Strategy
from witengine.scheduling.ledger import Ledger, MapContext
from witengine.scheduling.planners.adaptive import AdaptiveSchedule
from witengine.scheduling.planners.balanced import BalancedSchedule
from witengine.scheduling.planners.queued import QueuedSchedule
from witengine.scheduling.rates import RateModel
from witengine.scheduling.settings import SchedulerSettings

_STRATEGIES: dict[Strategy, type[Ledger]] = {
    Strategy.ADAPTIVE: AdaptiveSchedule,
    Strategy.BALANCED: BalancedSchedule,
    Strategy.QUEUED: QueuedSchedule,
}


class Scheduler:
    """Rates, blocklists and settings shared by every map's schedule."""

    def __init__(
        self, settings: SchedulerSettings | None = None, rates: RateModel | None = None
    ) -> None:
        self.settings = settings or SchedulerSettings()
        self.rates = rates or RateModel()
        self.blocklist = Blocklist(self.settings.blocklist_after)
        self._maps = 0

    def schedule(
        self,
        job_id: str,
        activity: str,
        plugin: str,
        work: Sequence[float],
        strategy: Strategy,
        candidates: Sequence[Candidate],
        *,
        now: float,
        max_nodes: int | None = None,
    ) -> MapSchedule:
        """The schedule of one map: `work[i]` is item i's estimate in the activity's unit."""
        if max_nodes is not None and max_nodes < 1:
            raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
        self._maps += 1
        context = MapContext(
            job_id, activity, plugin, self.settings, self.rates, self.blocklist, self._maps
        )
        return _STRATEGIES[Strategy(strategy)](context, work, candidates, now, max_nodes)

    def job_ended(self, job_id: str) -> None:
        """Forget the job's blocklist."""
        self.blocklist.forget(job_id)
